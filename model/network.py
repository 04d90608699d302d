"""The tagger network: word, character and casing features, a GRU encoder, a CRF or softmax."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from model.architecture import Architecture, TaggerConfig
from model.charcnn import CharCNN
from model.crf import CRF
from model.vocab import CASINGS

# Architecture and TaggerConfig are imported from here by the artifact and training code.
__all__ = ["Architecture", "Batch", "LockedDropout", "TaggerConfig", "TaggerNetwork"]


@dataclass
class Batch:
    """Padded model inputs for B sentences of up to T tokens, words of up to L characters."""

    words: torch.Tensor  # (B, T) long
    chars: torch.Tensor  # (W, L) long: the W distinct spellings; row 0 is empty (padding)
    spelling: torch.Tensor  # (B, T) long: each position's row of chars
    casing: torch.Tensor  # (B, T) long
    lengths: torch.Tensor  # (B,) long, on the CPU as pack_padded_sequence wants
    tags: torch.Tensor | None = None  # (B, T) long
    lexicon: torch.Tensor | None = None  # (B, T) long: lexicon marks, 4 bits a category
    #: The character ids of each row of ``chars``, as the key under which the character
    #: CNN remembers its features (None: nothing is remembered).
    spellings: list[tuple[int, ...]] | None = None

    @property
    def mask(self) -> torch.Tensor:
        positions = torch.arange(self.words.size(1), device=self.words.device)
        return positions[None, :] < self.lengths.to(self.words.device)[:, None]

    def to(self, device: torch.device | str) -> Batch:
        tags = None if self.tags is None else self.tags.to(device)
        return Batch(
            self.words.to(device),
            self.chars.to(device),
            self.spelling.to(device),
            self.casing.to(device),
            self.lengths,
            tags,
            None if self.lexicon is None else self.lexicon.to(device),
            self.spellings,
        )


class LockedDropout(nn.Module):
    """Dropout whose mask is the same at every position of a sequence (Gal & Ghahramani)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        if not self.training or self.p == 0:
            return x
        mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1 - self.p) / (1 - self.p)
        return x * mask


class TaggerNetwork(nn.Module):
    """Token features -> (Bi)GRU over packed sequences -> tag scores, decoded by CRF or argmax."""

    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        self.config = config
        # Sparse gradients: a batch touches a few hundred of ~100k rows, and a dense update of
        # the whole table would cost as much as the rest of the step.
        self.words = nn.Embedding(config.num_words, config.word_dim, padding_idx=0, sparse=True)
        self.chars = CharCNN(config)
        self.casing = nn.Embedding(len(CASINGS), config.casing_dim, padding_idx=0)
        features = config.word_dim + config.char_filters + config.casing_dim
        features += 4 * config.lexicon_categories
        # Bit k of a token's lexicon marks becomes its feature k (not saved: derived).
        bits = torch.arange(4 * config.lexicon_categories, dtype=torch.long)
        self.register_buffer("lexicon_bits", bits, persistent=False)
        self.dropout: nn.Module = (
            LockedDropout(config.dropout) if config.locked_dropout else nn.Dropout(config.dropout)
        )
        self.gru = nn.GRU(
            features,
            config.hidden,
            num_layers=config.layers,
            batch_first=True,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        directions = 2 if config.bidirectional else 1
        self.project = nn.Linear(directions * config.hidden, config.num_tags)
        self.crf = CRF(config.num_tags) if config.crf else None

    def forward(self, batch: Batch) -> torch.Tensor:
        """Emission scores (B, T, K)."""
        if self.training:
            emissions: torch.Tensor = self.project(self.states(batch))
            return emissions
        x = self.dropout(self._features(batch))  # (B, T, E)
        if int(batch.lengths.min()) == x.size(1):
            # No padding (one sentence alone, or all of a length): nothing to pack, and the GRU
            # then projects every step's input in one product instead of one a step.
            out, _ = self.gru(x)
            emissions = self.project(out)
            return emissions
        packed = pack_padded_sequence(x, batch.lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        # Scored while packed and padded after: padding then copies K scores a position, not
        # H hidden units. Padding positions score 0; the CRF masks them out.
        scored = out._replace(data=self.project(out.data))  # (N, K)
        emissions, _ = pad_packed_sequence(scored, batch_first=True, total_length=x.size(1))
        return emissions  # (B, T, K)

    def states(self, batch: Batch) -> torch.Tensor:
        """The GRU's outputs after dropout (B, T, D), which the tag projection reads: units
        ``[:hidden]`` are the forward direction's, ``[hidden:]`` the backward one's; 0 past
        each length. Training objectives beside the tags read them too
        (``model.training.lm``)."""
        x = self.dropout(self._features(batch))  # (B, T, E)
        packed = pack_padded_sequence(x, batch.lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        # Locked dropout draws its masks per sentence: padded (B, T, D) is what it needs.
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        dropped: torch.Tensor = self.dropout(h)
        return dropped

    def _features(self, batch: Batch) -> torch.Tensor:
        """Each token's word, character, casing and lexicon features, (B, T, E)."""
        spelled = self.chars(batch.chars, batch.spellings)[batch.spelling]  # (B, T, F)
        parts = [self.words(batch.words), spelled, self.casing(batch.casing)]
        if self.config.lexicon_categories:
            parts.append(self._lexicon_features(batch))
        return torch.cat(parts, dim=-1)

    def _lexicon_features(self, batch: Batch) -> torch.Tensor:
        """0/1 features (B, T, 4C) from the lexicon marks, dropped per token in training."""
        if batch.lexicon is None:
            raise ValueError("this model needs lexicon marks: its vocab has no lexicon")
        bits: torch.Tensor = self.lexicon_bits  # type: ignore[assignment]
        features = ((batch.lexicon.unsqueeze(-1) >> bits) & 1).to(self.casing.weight.dtype)
        p = self.config.lexicon_dropout
        if self.training and p > 0:
            keep = torch.rand(features.shape[:2], device=features.device) >= p
            features = features * keep.unsqueeze(-1)
        return features

    def loss(self, batch: Batch, states: torch.Tensor | None = None) -> torch.Tensor:
        """Training loss: CRF negative log-likelihood, or token cross-entropy without a CRF.

        ``states``: the batch's :meth:`states`, when the caller computed them for an
        objective of its own, so that both objectives share one pass and one dropout draw.
        """
        if batch.tags is None:
            raise ValueError("loss needs a batch with tags")
        emissions = self(batch) if states is None else self.project(states)
        mask = batch.mask
        if self.crf is not None:
            return self.crf.nll(emissions, batch.tags, mask)
        return nn.functional.cross_entropy(emissions[mask], batch.tags[mask])

    def decode(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Best tags (B, T) and each chosen tag's probability (B, T); 0 past each length.

        A bidirectional CRF model decodes by Viterbi with forward-backward marginals. A
        forward-only one decodes each token from the forward algorithm up to it, so that no
        later word can change its label: that is what makes it the honest left-to-right twin.
        """
        tags, probs = self.distributions(batch)
        return tags, probs.gather(2, tags.unsqueeze(2)).squeeze(2)

    def distributions(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Best tags (B, T), decoded as :meth:`decode` does, and every tag's probability
        (B, T, K); 0 past each length."""
        emissions = self(batch)
        mask = batch.mask
        if self.crf is not None and self.config.bidirectional:
            tags = self.crf.viterbi(emissions, mask)
            probs = self.crf.marginals(emissions, mask)
        elif self.crf is not None:
            probs = self.crf.filtered(emissions, mask)
            tags = probs.argmax(-1)
        else:
            probs = emissions.softmax(-1) * mask.unsqueeze(2)
            tags = probs.argmax(-1)
        return tags, probs
