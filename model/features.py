"""Turning token lists into padded model batches, and model output back into tag lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model.network import Batch, TaggerNetwork
from model.vocab import Vocab, casing


@dataclass(frozen=True, slots=True)
class Encoded:
    """One sentence as ids, before padding."""

    words: list[int]
    chars: list[list[int]]
    casing: list[int]


def encode_sentence(tokens: Sequence[str], vocab: Vocab, max_word_chars: int) -> Encoded:
    """Word, character and casing ids of one sentence."""
    return Encoded(
        [vocab.word_id(t) for t in tokens],
        [vocab.char_ids(t, max_word_chars) for t in tokens],
        [casing(t) for t in tokens],
    )


def collate(sentences: Sequence[Encoded], tags: Sequence[Sequence[int]] | None = None) -> Batch:
    """Pad encoded sentences (each with at least one token) into one :class:`Batch`."""
    if not sentences or any(len(s.words) == 0 for s in sentences):
        raise ValueError("a batch needs at least one sentence, each with at least one token")
    size = len(sentences)
    length = max(len(s.words) for s in sentences)
    width = max(len(c) for s in sentences for c in s.chars)
    words = torch.zeros(size, length, dtype=torch.long)
    chars = torch.zeros(size, length, max(width, 1), dtype=torch.long)
    casings = torch.zeros(size, length, dtype=torch.long)
    tag_ids = None if tags is None else torch.zeros(size, length, dtype=torch.long)
    for i, s in enumerate(sentences):
        n = len(s.words)
        words[i, :n] = torch.tensor(s.words)
        casings[i, :n] = torch.tensor(s.casing)
        for j, ids in enumerate(s.chars):
            chars[i, j, : len(ids)] = torch.tensor(ids)
        if tag_ids is not None and tags is not None:
            tag_ids[i, :n] = torch.tensor(tags[i])
    lengths = torch.tensor([len(s.words) for s in sentences], dtype=torch.long)
    return Batch(words, chars, casings, lengths, tag_ids)


def encode(sentences: Sequence[Sequence[str]], vocab: Vocab, max_word_chars: int) -> Batch:
    """Pad a list of non-empty token lists into one :class:`Batch`."""
    return collate([encode_sentence(s, vocab, max_word_chars) for s in sentences])


def predict(
    model: TaggerNetwork,
    vocab: Vocab,
    sentences: Sequence[Sequence[str]],
    batch_size: int = 256,
    device: torch.device | str = "cpu",
) -> tuple[list[list[str]], list[list[float]]]:
    """Tags and their probabilities for each sentence; empty sentences get empty lists.

    Sentences are sorted by length into batches so padding stays small, and results come
    back in input order.
    """
    model.eval()
    tags: list[list[str]] = [[] for _ in sentences]
    scores: list[list[float]] = [[] for _ in sentences]
    order = sorted((i for i, s in enumerate(sentences) if s), key=lambda i: len(sentences[i]))
    with torch.inference_mode():
        for first in range(0, len(order), batch_size):
            chunk = order[first : first + batch_size]
            batch = encode([sentences[i] for i in chunk], vocab, model.config.max_word_chars)
            best, probs = model.decode(batch.to(device))
            best_rows, prob_rows = best.tolist(), probs.tolist()
            for row, i in enumerate(chunk):
                n = len(sentences[i])
                tags[i] = [vocab.tags[k] for k in best_rows[row][:n]]
                scores[i] = prob_rows[row][:n]
    return tags, scores
