"""Cutting items sorted by length into groups that are padded to their longest, one call each."""

from __future__ import annotations

from collections.abc import Sequence


def length_groups(lengths: Sequence[int], call_cost: int) -> list[slice]:
    """Cut items sorted by length into consecutive groups, one call each.

    Every call pads its items to its longest, so the cuts minimise ``call_cost`` per call
    plus the padded size (items x longest) of all calls: a cut is made where the padding it
    saves outweighs one more call. Only cuts between different lengths can help. The service
    cuts batches of sentences this way, the character CNN the distinct words of a batch.
    """
    n = len(lengths)
    ends = [i for i in range(1, n + 1) if i == n or lengths[i] != lengths[i - 1]]
    # best[k]: least cost of the items before ends[k - 1]; cut[k]: where its last group starts.
    best = [0] + [0] * len(ends)
    cut = [0] * (len(ends) + 1)
    starts = [0, *ends]
    for k, end in enumerate(ends, start=1):
        longest = lengths[end - 1]
        best[k], cut[k] = min(
            (best[m] + call_cost + (end - starts[m]) * longest, m) for m in range(k)
        )
    groups = []
    k = len(ends)
    while k > 0:
        groups.append(slice(starts[cut[k]], starts[k]))
        k = cut[k]
    return groups[::-1]


def calls(lengths: Sequence[int], call_cost: int | None, most: int) -> list[slice]:
    """The model calls of items sorted by length: :func:`length_groups` (None: one group),
    each cut again into calls of at most ``most`` items."""
    if not lengths:
        return []
    groups = [slice(0, len(lengths))] if call_cost is None else length_groups(lengths, call_cost)
    return [
        slice(start, min(start + most, group.stop))
        for group in groups
        for start in range(group.start, group.stop, most)
    ]
