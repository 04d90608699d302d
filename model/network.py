"""The tagger network: word, character and casing features, a GRU encoder, a CRF or softmax."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from model.crf import CRF
from model.grouping import length_groups
from model.vocab import CASINGS

#: Spellings whose character features the CNN remembers (see :class:`CharCNN`).
SEEN_SPELLINGS = 1 << 16


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """The choices that shape a :class:`TaggerNetwork` whatever the data: a training run takes
    them as flags of the same names (``model.training.config.TrainConfig``)."""

    hidden: int = 200  # per direction
    layers: int = 1
    bidirectional: bool = True
    crf: bool = True
    char_filters: int = 50
    casing_dim: int = 10
    dropout: float = 0.5
    #: One dropout mask per sentence, shared by all its positions (variational dropout).
    locked_dropout: bool = False


@dataclass(frozen=True)
class TaggerConfig(Architecture):
    """Shapes and switches of :class:`TaggerNetwork`; stored as the artifact's ``config.json``."""

    num_words: int
    num_chars: int
    num_tags: int
    word_dim: int = 50
    char_dim: int = 30
    char_kernel: int = 3
    max_word_chars: int = 32
    #: Categories of the lexicon whose BIOES marks are features (0: no lexicon).
    lexicon_categories: int = 0
    #: Probability that a token's lexicon features are all zeroed in training, so that the
    #: network does not lean on the lists alone.
    lexicon_dropout: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaggerConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**data)


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


class CharCNN(nn.Module):
    """Max-pooled convolution over each word's characters (Ma & Hovy 2016).

    In inference mode it remembers the features of the last :data:`SEEN_SPELLINGS` spellings
    it was given keys for, and convolves only the new ones: the same words come back in every
    batch. What it remembers is dropped whenever a weight changes (training, loading, moving).
    """

    #: What one convolution call costs, in padded character positions (measured on CPU).
    call_cost_chars = 300

    def __init__(self, config: TaggerConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(config.num_chars, config.char_dim, padding_idx=0)
        self.conv = nn.Conv1d(
            config.char_dim,
            config.char_filters,
            config.char_kernel,
            padding=config.char_kernel // 2,
        )
        self._seen: dict[tuple[int, ...], int] = {}
        self._table: torch.Tensor | None = None  # (rows, F): row i holds spelling i's features
        self._weights: tuple[int, ...] = ()

    def forward(
        self, chars: torch.Tensor, spellings: list[tuple[int, ...]] | None = None
    ) -> torch.Tensor:
        """Features (W, F) of W words given as character ids (W, L), 0-padded on the right;
        ``spellings`` are the rows' ids as keys, for features to be remembered by."""
        if spellings is None or self.training or not torch.is_inference_mode_enabled():
            return self._computed(chars)
        weights = tuple(n for p in self.parameters() for n in (p._version, p.data_ptr()))
        if weights != self._weights:
            self._forget()
            self._weights = weights
        seen = self._seen
        rows = [seen.get(key, -1) for key in spellings]
        new = [i for i, row in enumerate(rows) if row < 0]
        if new:
            if len(seen) + len(new) > SEEN_SPELLINGS:
                self._forget()
                rows, new = [-1] * len(spellings), list(range(len(spellings)))
            first = len(seen)
            self._remember(self._computed(chars[new]), first)
            for offset, i in enumerate(new):
                rows[i] = seen[spellings[i]] = first + offset
        assert self._table is not None
        return self._table.index_select(0, torch.tensor(rows, device=chars.device))

    def _forget(self) -> None:
        self._seen.clear()

    def _remember(self, features: torch.Tensor, first: int) -> None:
        """Store ``features`` as rows ``first`` on, growing the table as needed."""
        needed = first + features.size(0)
        table = self._table
        if table is None or table.size(0) < needed or table.device != features.device:
            size = max(needed, 2 * (0 if table is None else table.size(0)), 1024)
            grown = features.new_empty(min(size, max(needed, SEEN_SPELLINGS)), features.size(1))
            if table is not None and table.device == features.device:
                grown[:first] = table[:first]
            table = self._table = grown
        table[first:needed] = features

    def _computed(self, chars: torch.Tensor) -> torch.Tensor:
        """Features of every row of ``chars``, convolved now.

        Words are sorted by length and convolved in groups trimmed to their longest word:
        padding characters cost most of a full-width convolution. A word without characters
        gets zeros.
        """
        lengths = (chars != 0).sum(1)
        order = lengths.argsort(stable=True)
        ordered, sizes = chars[order], lengths[order].tolist()
        parts = []
        for group in length_groups(sizes, self.call_cost_chars):
            parts.append(self._pooled(ordered[group, : sizes[group.stop - 1]]))
        return torch.cat(parts).index_select(0, order.argsort())  # (W, F), in input order

    def _pooled(self, chars: torch.Tensor) -> torch.Tensor:
        """Max over positions of the convolution, (W, F), for words trimmed to (W, L)."""
        if chars.size(1) == 0:
            return self.conv.weight.new_zeros(chars.size(0), self.conv.out_channels)
        x = self.conv(self.embed(chars).transpose(1, 2))  # (W, F, L)
        # Padding characters must not win the max, or a word's features would depend on the
        # longest word in its group.
        padding = chars == 0
        if not bool(padding.any()):
            pooled: torch.Tensor = x.max(dim=2).values
            return pooled
        pooled = x.masked_fill(padding.unsqueeze(1), float("-inf")).max(dim=2).values
        return pooled.masked_fill(padding[:, :1], 0.0)  # words without characters: zeros


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
        spelled = self.chars(batch.chars, batch.spellings)[batch.spelling]  # (B, T, F)
        parts = [self.words(batch.words), spelled, self.casing(batch.casing)]
        if self.config.lexicon_categories:
            parts.append(self._lexicon_features(batch))
        x = torch.cat(parts, dim=-1)  # (B, T, E)
        x = self.dropout(x)
        if not self.training and int(batch.lengths.min()) == x.size(1):
            # No padding (one sentence alone, or all of a length): nothing to pack, and the GRU
            # then projects every step's input in one product instead of one a step.
            out, _ = self.gru(x)
            emissions: torch.Tensor = self.project(out)
            return emissions
        packed = pack_padded_sequence(x, batch.lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        if self.training:  # locked dropout draws its masks per sentence: (B, T, H) it needs
            h, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
            emissions = self.project(self.dropout(h))  # (B, T, K)
            return emissions
        # Scored while packed and padded after: padding then copies K scores a position, not
        # H hidden units. Padding positions score 0; the CRF masks them out.
        scored = out._replace(data=self.project(out.data))  # (N, K)
        emissions, _ = pad_packed_sequence(scored, batch_first=True, total_length=x.size(1))
        return emissions  # (B, T, K)

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

    def loss(self, batch: Batch) -> torch.Tensor:
        """Training loss: CRF negative log-likelihood, or token cross-entropy without a CRF."""
        if batch.tags is None:
            raise ValueError("loss needs a batch with tags")
        emissions = self(batch)
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
