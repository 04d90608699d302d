"""The words that decided the labels the backward direction changed (:mod:`model.deciding`):
found by tagging prefixes in calls of bounded size, and counted by distance and per type."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from model.analysis.accuracy import Token
from model.artifact import LoadedModel
from model.data import Sentence
from model.deciding import Deciding, Question, label_probabilities, padded_tokens

#: Buckets of "words from a changed token to its deciding word": (label, lowest, highest).
DISTANCES = [("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4-5", 4, 5), ("6-8", 6, 8)]
DISTANCES += [("9-16", 9, 16), ("17+", 17, 10**9)]
#: Most deciding words listed per entity type.
TOP_DECIDING = 8
#: Padded prefix tokens tagged in one call when finding deciding words.
PREFIX_BUDGET = 16384


def find_deciding(
    loaded: LoadedModel, questions: Sequence[Question], device: torch.device
) -> list[list[Deciding]]:
    """The deciding word of each question's tokens, the prefixes tagged by ``loaded`` in calls of
    at most :data:`PREFIX_BUDGET` padded tokens (a longer sentence in a call of its own)."""
    out: list[list[Deciding]] = []
    group: list[Question] = []

    def flush() -> None:
        prefixes = [p for q in group for p in q.prefixes()]
        labels = [x for q in group for x in q.labels()]
        answers = label_probabilities(loaded.network, loaded.vocab, prefixes, labels, device)
        k = 0
        for q in group:
            out.append(q.answer(answers[k : k + len(q.cuts)]))
            k += len(q.cuts)
        group.clear()

    for question in questions:
        if group and padded_tokens([*group, question]) > PREFIX_BUDGET:
            flush()
        group.append(question)
    if group:
        flush()
    return out


def _kind(tag: str) -> str:
    """The entity type of a tag, or O."""
    return tag[2:] if tag != "O" else "O"


def _decided_snippet(sentence: Sentence, token: int, word: int) -> str:
    """The words from just before the token to just after its deciding word: the token in
    brackets, the deciding word in guillemets, a long stretch between them cut short."""
    words = list(sentence.tokens)
    words[token] = f"[{words[token]}]"
    words[word] = f"«{words[word]}»" if word != token else words[word]
    first, last = max(0, token - 2), min(len(words), word + 2)
    middle = words[token : word + 1]
    if len(middle) > 8:
        middle = [*middle[:3], "…", *middle[-3:]]
    shown = words[first:token] + middle + words[word + 1 : last]
    return ("… " if first else "") + " ".join(shown) + (" …" if last < len(words) else "")


def deciding_words(
    sentences: Sequence[Sentence], decided: Sequence[tuple[Token, Deciding]]
) -> dict[str, Any]:
    """How far each changed token's deciding word lies (:mod:`model.deciding`), and the later
    words that decide most often, per entity type the BiGRU gives (O: not an entity), each
    with the type the forward-only model had given most often and an example."""
    distances = [d.distance for _, d in decided]
    rows = []
    for label, low, high in DISTANCES:
        count = sum(low <= x <= high for x in distances)
        share = count / len(distances) if distances else None
        rows.append({"distance": label, "tokens": count, "share": share})
    words: dict[str, Counter[str]] = {}
    turned: dict[tuple[str, str], Counter[str]] = {}
    example: dict[tuple[str, str], str] = {}
    for token, d in decided:
        if d.distance == 0:
            continue
        kind, sentence = _kind(token.bidirectional), sentences[token.sentence]
        word = sentence.tokens[d.word]
        words.setdefault(kind, Counter())[word] += 1
        turned.setdefault((kind, word), Counter())[_kind(token.forward)] += 1
        example.setdefault((kind, word), _decided_snippet(sentence, token.index, d.word))
    return {
        "changed": len(distances),
        "by_later_word": sum(x > 0 for x in distances),
        "mean_distance": sum(distances) / len(distances) if distances else None,
        "distance": rows,
        "by_type": {
            kind: [
                {
                    "word": word,
                    "count": count,
                    "forward": turned[kind, word].most_common(1)[0][0],
                    "example": example[kind, word],
                }
                for word, count in words[kind].most_common(TOP_DECIDING)
            ]
            for kind in sorted(words)
        },
    }
