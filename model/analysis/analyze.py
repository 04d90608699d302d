"""What backward context buys: the BiGRU against its forward-only twin on the same sentences.

A forward-only tagger labels each token from the words up to it; the BiGRU also reads the words
after it. :func:`analyze` measures where that shows: entity F1, token accuracy by role (B-, I-,
O), the first token of multi-token entities (whose label the next words decide), accuracy
against the number of tokens that follow, the errors the backward direction fixes and causes,
the words that decided the labels it changed (:mod:`model.deciding`), and the minimal pairs of
:mod:`model.analysis.pairs`. The result is plain JSON data; :mod:`model.analysis.report` writes
it out as Markdown and plots.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from model.analysis.pairs import MinimalPair
from model.artifact import LoadedModel
from model.data import Sentence, recase
from model.deciding import Deciding, Question, padded_tokens, probabilities_of
from model.features import predict
from model.training.evaluate import evaluate, score

#: The two models, in the order every table lists them.
MODELS = ("forward", "bidirectional")
#: Buckets of "tokens that follow in the sentence": (label, lowest, highest).
FOLLOWING = [("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3-4", 3, 4), ("5-8", 5, 8)]
FOLLOWING += [("9-16", 9, 16), ("17+", 17, 10**9)]
#: Most error patterns listed, each with one example.
TOP_ERRORS = 10
#: Buckets of "words from a changed token to its deciding word": (label, lowest, highest).
DISTANCES = [("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4-5", 4, 5), ("6-8", 6, 8)]
DISTANCES += [("9-16", 9, 16), ("17+", 17, 10**9)]
#: Most deciding words listed per entity type.
TOP_DECIDING = 8
#: Padded prefix tokens tagged in one call when finding deciding words.
PREFIX_BUDGET = 16384


@dataclass(frozen=True, slots=True)
class Token:
    """One token of the data with its gold tag and both models' tags."""

    sentence: int
    index: int
    gold: str
    forward: str
    bidirectional: str
    following: int

    def right(self, model: str) -> bool:
        return bool(getattr(self, model) == self.gold)


def _tokens(
    sentences: Sequence[Sentence], forward: Sequence[list[str]], both: Sequence[list[str]]
) -> list[Token]:
    out = []
    for k, (sentence, left, full) in enumerate(zip(sentences, forward, both, strict=True)):
        n = len(sentence.tags)
        for i, gold in enumerate(sentence.tags):
            out.append(Token(k, i, gold, left[i], full[i], n - 1 - i))
    return out


def accuracy(tokens: Sequence[Token]) -> dict[str, Any]:
    """How many tokens, and the share of them each model tags right (None if there are none)."""
    counts: dict[str, Any] = {"tokens": len(tokens)}
    for model in MODELS:
        right = sum(t.right(model) for t in tokens)
        counts[model] = right / len(tokens) if tokens else None
    return counts


def by_role(tokens: Sequence[Token]) -> dict[str, dict[str, Any]]:
    """Accuracy on tokens whose gold tag begins an entity (B), continues one (I) or is O."""
    return {role: accuracy([t for t in tokens if t.gold[0] == role]) for role in "BIO"}


def first_of_multi_token(tokens: Sequence[Token]) -> dict[str, Any]:
    """Accuracy on the first token of entities of two or more tokens: "Paris" of "Paris
    Hilton", whose label only the next word decides."""
    firsts = [
        t
        for t, after in zip(tokens, tokens[1:], strict=False)
        if t.gold.startswith("B-")
        and after.sentence == t.sentence
        and after.gold == "I" + t.gold[1:]
    ]
    return accuracy(firsts)


def by_following(tokens: Sequence[Token]) -> list[dict[str, Any]]:
    """Accuracy against the number of tokens that follow in the sentence, on all tokens and on
    entity tokens (gold tag not O)."""
    rows = []
    for label, low, high in FOLLOWING:
        bucket = [t for t in tokens if low <= t.following <= high]
        entity = accuracy([t for t in bucket if t.gold != "O"])
        rows.append({"following": label, **accuracy(bucket), "entity": entity})
    return rows


def _snippet(sentence: Sentence, index: int) -> str:
    """A few words around the token, the token in brackets: more after it, where the evidence
    that the backward direction carries lies."""
    words = list(sentence.tokens[max(0, index - 3) : index + 6])
    at = index - max(0, index - 3)
    words[at] = f"[{words[at]}]"
    before = "… " if index > 3 else ""
    after = " …" if index + 6 < len(sentence.tokens) else ""
    return before + " ".join(words) + after


def errors(
    tokens: Sequence[Token], sentences: Sequence[Sentence], wrong: str, right: str
) -> list[dict[str, Any]]:
    """The most frequent errors of model ``wrong`` that model ``right`` gets right, as (gold,
    predicted) patterns with their count and one example each."""
    patterns: Counter[tuple[str, str]] = Counter()
    example: dict[tuple[str, str], str] = {}
    for t in tokens:
        if t.right(right) and not t.right(wrong):
            key = (t.gold, getattr(t, wrong))
            patterns[key] += 1
            example.setdefault(key, _snippet(sentences[t.sentence], t.index))
    return [
        {"gold": gold, wrong: tag, "count": count, "example": example[gold, tag]}
        for (gold, tag), count in patterns.most_common(TOP_ERRORS)
    ]


def changes(tokens: Sequence[Token]) -> dict[str, int]:
    """Tokens whose label the backward direction changed, and what that did."""
    changed = [t for t in tokens if t.forward != t.bidirectional]
    return {
        "changed": len(changed),
        "fixed": sum(t.right("bidirectional") for t in changed),
        "caused": sum(t.right("forward") for t in changed),
        "both_wrong": sum(not t.right("forward") and not t.right("bidirectional") for t in changed),
    }


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
        tags, probabilities = probabilities_of(
            loaded.network, loaded.vocab, prefixes, labels, device=device
        )
        k = 0
        for q in group:
            out.append(q.answer(tags[k : k + len(q.cuts)], probabilities[k : k + len(q.cuts)]))
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
        tags, _ = predict(
            loaded.network, loaded.vocab, [s.tokens for s in sentences], device=device
        )
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
    left, _ = predict(forward.network, forward.vocab, words, device=device)
    full, full_scores = predict(both.network, both.vocab, words, device=device)
    gold = [s.tags for s in sentences]
    tokens = _tokens(sentences, left, full)
    changed = [t for t in tokens if t.forward != t.bidirectional]
    asked: dict[int, list[Token]] = {}
    for t in changed:
        asked.setdefault(t.sentence, []).append(t)
    questions = [
        Question(words[k], full[k], full_scores[k], [t.index for t in ts])
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
