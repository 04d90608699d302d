"""A language-model objective beside the tags, for training only (Rei 2017, "Semi-supervised
multitask learning for sequence labeling"; Liu et al. 2018, LM-LSTM-CRF).

The forward GRU's state at each word predicts the next word, the backward GRU's state the
previous one, the sentence's ends being a word of their own. Their negative log-likelihood,
weighted by ``TrainConfig.lm_weight``, is added to the tag loss, so that the states learn what
the words around them are likely to be from far more signal than the tags give. The head lives
here and not in the network: the artifact holds none of it and serving never runs it.

A forward-only network gets the forward half alone, so that its states still see no later word.
The words predicted are the ``lm_vocab`` most frequent of the training set, every other word one
class: a softmax over the ~200k words of the vocabulary would cost more than the rest of a step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import torch
from torch import nn

from model.architecture import TaggerConfig
from model.training.config import TrainConfig

#: Units of the layer between a GRU state and the word scores (Rei 2017 has one such layer,
#: so that the states need not hold the next word's scores linearly).
LM_DIM = 50


class LanguageModelHead(nn.Module):
    """Word scores from each direction's GRU states: the next word from the forward states,
    the previous word from the backward ones (none for a forward-only network).

    Classes: ``0 .. frequent - 1`` the frequent words, ``frequent`` every other word,
    ``frequent + 1`` the sentence's end (forward) or start (backward).
    """

    def __init__(
        self, classes: torch.Tensor, frequent: int, hidden: int, bidirectional: bool
    ) -> None:
        super().__init__()
        #: Each vocabulary id's class, (V,) long.
        self.register_buffer("classes", classes)
        self.boundary, self.hidden = frequent + 1, hidden
        self.next_word = self._head(hidden, frequent + 2)
        self.previous_word = self._head(hidden, frequent + 2) if bidirectional else None

    @staticmethod
    def _head(hidden: int, size: int) -> nn.Module:
        return nn.Sequential(nn.Linear(hidden, LM_DIM), nn.Tanh(), nn.Linear(LM_DIM, size))

    def forward(
        self, states: torch.Tensor, words: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """The objective: each sentence's summed negative log-likelihood of its words, in
        both directions, averaged over the batch (as the CRF's tag loss is)."""
        following, preceding = self.losses(states, words, lengths)
        total = following.sum() if preceding is None else following.sum() + preceding.sum()
        return total / words.size(0)

    def losses(
        self, states: torch.Tensor, words: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each position's negative log-likelihood (B, T) of the next word given the forward
        state, and of the previous word given the backward state (None without a backward
        head); 0 past each length.

        ``states`` (B, T, D) are the network's :meth:`~model.network.TaggerNetwork.states`,
        ``words`` (B, T) its input word ids and ``lengths`` (B,) the sentences' lengths.
        """
        positions = torch.arange(words.size(1), device=words.device)
        lengths = lengths.to(words.device)
        mask = positions < lengths[:, None]  # (B, T)
        table: torch.Tensor = self.classes  # type: ignore[assignment]
        classes = table[words]
        ends = classes.new_full((words.size(0), 1), self.boundary)
        following = torch.cat([classes[:, 1:], ends], 1)
        following = following.masked_fill(positions == (lengths - 1)[:, None], self.boundary)
        forward = self._nll(self.next_word, states[..., : self.hidden], following, mask)
        if self.previous_word is None:
            return forward, None
        preceding = torch.cat([ends, classes[:, :-1]], 1)
        backward = self._nll(self.previous_word, states[..., self.hidden :], preceding, mask)
        return forward, backward

    @staticmethod
    def _nll(
        head: nn.Module, states: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Negative log-likelihood (B, T) of ``targets`` under ``head``, scored only where
        ``mask`` holds (padding would cost as much as the words)."""
        scores = head(states[mask])  # (N, C)
        nll = nn.functional.cross_entropy(scores, targets[mask], reduction="none")
        return states.new_zeros(mask.shape).masked_scatter(mask, nll)


def language_model(
    config: TrainConfig, network: TaggerConfig, words: Iterable[int]
) -> LanguageModelHead | None:
    """The head a run trains beside its network, or None when ``config.lm_weight`` is 0
    (training is then exactly what it is without this module); ``config`` has been checked
    by :meth:`~model.training.config.TrainConfig.checked_dev_cases`.

    ``words``: the word ids of the training set, whose ``config.lm_vocab`` most frequent become
    the classes (<pad> and <unk> never do).
    """
    if config.lm_weight == 0:
        return None
    counts = Counter(i for i in words if i > 1)
    frequent = [i for i, _ in counts.most_common(config.lm_vocab)]
    classes = torch.full((network.num_words,), len(frequent), dtype=torch.long)
    classes[torch.tensor(frequent, dtype=torch.long)] = torch.arange(len(frequent))
    return LanguageModelHead(classes, len(frequent), network.hidden, network.bidirectional)
