"""Turning token lists into padded model batches, and model output back into tag lists."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model.grouping import calls
from model.network import Batch, TaggerNetwork
from model.pipeline import Prediction
from model.vocab import Vocab, casing


@dataclass(frozen=True, slots=True)
class Encoded:
    """One sentence as ids, before padding."""

    words: list[int]
    chars: Sequence[Sequence[int]]
    casing: list[int]
    #: Lexicon marks per token (see :mod:`model.lexicon`), for a model with a lexicon.
    lexicon: list[int] | None = None


def encode_sentence(tokens: Sequence[str], vocab: Vocab, max_word_chars: int) -> Encoded:
    """Word, character and casing ids of one sentence, and its lexicon marks."""
    return Encoded(
        [vocab.word_id(t) for t in tokens],
        [vocab.char_ids(t, max_word_chars) for t in tokens],
        [casing(t) for t in tokens],
        None if vocab.lexicon is None else vocab.lexicon.features(tokens),
    )


def collate(sentences: Sequence[Encoded], tags: Sequence[Sequence[int]] | None = None) -> Batch:
    """Pad encoded sentences (each with at least one token) into one :class:`Batch`.

    Each distinct spelling gets one row of ``Batch.chars`` (row 0 is the empty one that
    padding positions point to), so that the character CNN runs once per distinct word.
    """
    if not sentences or any(len(s.words) == 0 for s in sentences):
        raise ValueError("a batch needs at least one sentence, each with at least one token")
    size = len(sentences)
    length = max(len(s.words) for s in sentences)
    # Padded ids go into flat int64 arrays that become tensors without a copy: one small
    # tensor per token (or torch.tensor on nested lists) costs several times more, and in a
    # server this runs on the model thread holding the GIL that the HTTP side needs too.
    words, casings, spelling = array("q"), array("q"), array("q")
    marks = None if sentences[0].lexicon is None else array("q")
    rows: dict[tuple[int, ...], int] = {(): 0}
    tag_ids = None if tags is None else array("q")
    for i, s in enumerate(sentences):
        padding = [0] * (length - len(s.words))
        words.extend(s.words)
        words.extend(padding)
        casings.extend(s.casing)
        casings.extend(padding)
        spelling.extend(rows.setdefault(tuple(ids), len(rows)) for ids in s.chars)
        spelling.extend(padding)
        if marks is not None:
            if s.lexicon is None:
                raise ValueError("lexicon marks for some sentences of a batch but not all")
            marks.extend(s.lexicon)
            marks.extend(padding)
        if tag_ids is not None and tags is not None:
            tag_ids.extend(tags[i])
            tag_ids.extend(padding)
    width = max(1, max(len(ids) for ids in rows))
    chars = array("q")
    for ids in rows:  # in row order: dicts keep insertion order
        chars.extend(ids)
        chars.extend([0] * (width - len(ids)))
    lengths = torch.tensor([len(s.words) for s in sentences], dtype=torch.long)
    return Batch(
        _long(words).view(size, length),
        _long(chars).view(len(rows), width),
        _long(spelling).view(size, length),
        _long(casings).view(size, length),
        lengths,
        None if tag_ids is None else _long(tag_ids).view(size, length),
        None if marks is None else _long(marks).view(size, length),
        list(rows),
    )


def _long(values: array[int]) -> torch.Tensor:
    """An int64 tensor sharing the memory of ``values`` (which it keeps alive)."""
    return torch.frombuffer(values, dtype=torch.long)


def encode(sentences: Sequence[Sequence[str]], vocab: Vocab, max_word_chars: int) -> Batch:
    """Pad a list of non-empty token lists into one :class:`Batch`."""
    encoded = []
    for tokens in sentences:
        ids = [vocab.token_ids(t, max_word_chars) for t in tokens]
        marks = None if vocab.lexicon is None else vocab.lexicon.features(tokens)
        encoded.append(
            Encoded([i[0] for i in ids], [i[1] for i in ids], [i[2] for i in ids], marks)
        )
    return collate(encoded)


def tag_sentences(
    network: TaggerNetwork,
    vocab: Vocab,
    sentences: Sequence[Sequence[str]],
    device: torch.device | str = "cpu",
    call_cost: int | None = None,
    most: int = 256,
) -> list[Prediction]:
    """A :class:`Prediction` for each sentence, in input order; an empty one gets empty lists.

    The one place where sentences are sorted by length and cut into model calls (of at most
    ``most`` sentences; with ``call_cost``, also where the padding saved outweighs a call, see
    :func:`model.grouping.calls`), so that padding stays small. Tags are IOB2
    (``vocab.output_tags``), see :func:`given_out`.
    """
    if network.training:  # eval() walks every module: a few % of a one-sentence call
        network.eval()
    out = [Prediction([], []) for _ in sentences]
    order = sorted((i for i, s in enumerate(sentences) if s), key=lambda i: len(sentences[i]))
    with torch.inference_mode():
        for call in calls([len(sentences[i]) for i in order], call_cost, most):
            chunk = order[call]
            batch = encode([sentences[i] for i in chunk], vocab, network.config.max_word_chars)
            # TaggerNetwork.decode, with the tags given out as vocab.output_tags
            best, every = given_out(vocab, *network.distributions(batch.to(device)))
            probs = every.gather(2, best.unsqueeze(2)).squeeze(2)
            # Through numpy: torch's tolist makes Python numbers several times slower.
            best_rows, prob_rows = best.cpu().numpy().tolist(), probs.cpu().numpy().tolist()
            for row, i in enumerate(chunk):
                n = len(sentences[i])
                tags = [vocab.output_tags[k] for k in best_rows[row][:n]]
                out[i] = Prediction(tags, prob_rows[row][:n])
    return out


def given_out(
    vocab: Vocab, best: torch.Tensor, probs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best tags (B, T) and every tag's probability (B, T, K) of a network's
    :meth:`~model.network.TaggerNetwork.distributions`, in ``vocab.output_tags``: for an IOBES
    network each IOB2 tag's probability is the sum of its IOBES tags' (``B-X`` of ``B-X`` and
    ``S-X``, ``I-X`` of ``I-X`` and ``E-X``), and its best path is read as IOB2."""
    if not vocab.iobes:
        return best, probs
    index = torch.tensor(vocab.output_of, device=best.device)
    summed = probs.new_zeros(*probs.shape[:2], len(vocab.output_tags))
    return index[best], summed.index_add_(2, index, probs)
