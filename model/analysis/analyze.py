"""What backward context buys: the BiGRU against its forward-only twin on the same sentences.

A forward-only tagger labels each token from the words up to it; the BiGRU also reads the words
after it. :func:`analyze` measures where that shows: entity F1; token accuracy by role (B-, I-,
O), on the first token of multi-token entities (whose label the next words decide) and against
the number of tokens that follow, and the errors the backward direction fixes and causes
(:mod:`model.analysis.accuracy`); the words that decided the labels it changed
(:mod:`model.analysis.deciding_words`); and the minimal pairs of :mod:`model.analysis.pairs`.
The result is plain JSON data; :mod:`model.analysis.report` writes it out as Markdown and plots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from model.analysis.accuracy import (
    MODELS,
    Token,
    accuracy,
    by_following,
    by_role,
    changes,
    errors,
    first_of_multi_token,
    tokens_of,
)
from model.analysis.deciding_words import deciding_words, find_deciding
from model.analysis.pairs import MinimalPair
from model.artifact import LoadedModel
from model.data import Sentence, recase
from model.deciding import Deciding, Question
from model.features import tag_sentences
from model.training.evaluate import evaluate, score


def _matches(predicted: Sequence[str], gold: Sequence[str]) -> int:
    return sum(p == g for p, g in zip(predicted, gold, strict=True))


def minimal_pairs(
    pairs: Sequence[MinimalPair], forward: LoadedModel, both: LoadedModel, device: torch.device
) -> dict[str, Any]:
    """Both models on the pairs: accuracy on the shared openings and on every token, and in how
    many pairs each labels the opening differently in its two sentences."""
    sentences = [s for pair in pairs for s in (pair.first, pair.second)]
    openings = 2 * sum(p.opening for p in pairs)
    tokens = sum(len(s.tokens) for s in sentences)
    out: dict[str, Any] = {"pairs": len(pairs), "opening_tokens": openings, "tokens": tokens}
    for model, loaded in zip(MODELS, (forward, both), strict=True):
        tagged = tag_sentences(loaded.network, loaded.vocab, [s.tokens for s in sentences], device)
        tags = [p.tags for p in tagged]
        opening_right = token_right = told_apart = 0
        for i, pair in enumerate(pairs):
            n, first, second = pair.opening, tags[2 * i], tags[2 * i + 1]
            told_apart += first[:n] != second[:n]
            for predicted, sentence in ((first, pair.first), (second, pair.second)):
                opening_right += _matches(predicted[:n], sentence.tags[:n])
                token_right += _matches(predicted, sentence.tags)
        out[model] = {
            "opening_accuracy": opening_right / openings,
            "token_accuracy": token_right / tokens,
            "told_apart": told_apart,
        }
    return out


@dataclass(frozen=True)
class Other:
    """Text from another source than the main data, its entity types renamed to the models'
    (``bigru-ner evaluate --label-map``)."""

    name: str
    sentences: Sequence[Sentence]
    label_map: Mapping[str, str] | None = None


def analyze(
    sentences: Sequence[Sentence],
    forward: LoadedModel,
    both: LoadedModel,
    pairs: Sequence[MinimalPair],
    device: torch.device | str = "cpu",
    other: Other | None = None,
) -> dict[str, Any]:
    """The whole comparison of ``forward`` (left to right only) and ``both`` (the BiGRU) on
    ``sentences`` with gold tags, on the minimal ``pairs``, and on ``other`` text when given,
    as JSON-ready data."""
    device = torch.device(device)
    words = [s.tokens for s in sentences]
    left = [p.tags for p in tag_sentences(forward.network, forward.vocab, words, device)]
    predictions = tag_sentences(both.network, both.vocab, words, device)
    full = [p.tags for p in predictions]
    gold = [s.tags for s in sentences]
    tokens = tokens_of(sentences, left, full)
    changed = [t for t in tokens if t.forward != t.bidirectional]
    asked: dict[int, list[Token]] = {}
    for t in changed:
        asked.setdefault(t.sentence, []).append(t)
    questions = [
        Question(words[k], predictions[k].tags, predictions[k].scores, [t.index for t in ts])
        for k, ts in asked.items()
    ]
    found = find_deciding(both, questions, device)
    decided: list[tuple[Token, Deciding]] = []
    for ts, ds in zip(asked.values(), found, strict=True):
        decided += zip(ts, ds, strict=True)
    return {
        "models": {"forward": forward.name, "bidirectional": both.name},
        "data": {"sentences": len(sentences), "tokens": len(tokens)},
        "entity_scores": {
            "forward": score(gold, left).to_json(),
            "bidirectional": score(gold, full).to_json(),
        },
        "entity_f1_by_case": {
            case: {
                name: evaluate(m, recase(sentences, case), device).f1
                for name, m in (("forward", forward), ("bidirectional", both))
            }
            for case in ("lower", "upper")
        },
        "entity_f1_other": None
        if other is None
        else {
            "data": other.name,
            **{
                name: evaluate(m, other.sentences, device, label_map=other.label_map).f1
                for name, m in (("forward", forward), ("bidirectional", both))
            },
        },
        "token_accuracy": accuracy(tokens),
        "by_role": by_role(tokens),
        "first_of_multi_token": first_of_multi_token(tokens),
        "by_following": by_following(tokens),
        "changes": changes(tokens),
        "fixed_by_backward": errors(tokens, sentences, wrong="forward", right="bidirectional"),
        "caused_by_backward": errors(tokens, sentences, wrong="bidirectional", right="forward"),
        "minimal_pairs": minimal_pairs(pairs, forward, both, device),
        "deciding_words": deciding_words(sentences, decided),
    }
