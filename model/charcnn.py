"""The character features of the network: a CNN over each word's characters that, when
serving, convolves only the spellings it has not seen yet."""

from __future__ import annotations

import torch
from torch import nn

from model.architecture import TaggerConfig
from model.grouping import length_groups

#: Spellings whose character features the CNN remembers (see :class:`CharCNN`).
SEEN_SPELLINGS = 1 << 16


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
