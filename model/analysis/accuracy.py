"""Both models token by token: how often each is right, by the token's role and by how many
tokens follow it, and the errors that one makes and the other does not."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model.data import Sentence

#: The two models, in the order every table lists them.
MODELS = ("forward", "bidirectional")
#: Buckets of "tokens that follow in the sentence": (label, lowest, highest).
FOLLOWING = [("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3-4", 3, 4), ("5-8", 5, 8)]
FOLLOWING += [("9-16", 9, 16), ("17+", 17, 10**9)]
#: Most error patterns listed, each with one example.
TOP_ERRORS = 10


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


def tokens_of(
    sentences: Sequence[Sentence], forward: Sequence[list[str]], both: Sequence[list[str]]
) -> list[Token]:
    """Every token of ``sentences`` with the tags the two models gave it."""
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
