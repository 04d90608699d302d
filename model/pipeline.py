"""The one text pipeline: texts (or token lists) -> documents of sentences -> the flat token
lists a network tags -> tags put back into each document, with its entities.

:class:`model.tagger.Tagger` chains these steps in one call; the service runs the same steps
with a batcher between them (``service.core.service``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from model.tokenize import Token, split_sentences


@dataclass(frozen=True, slots=True)
class Document:
    """One input: its text (None when pre-tokenized) and its sentences of tokens."""

    text: str | None
    sentences: list[list[Token]]


class Prediction(NamedTuple):
    """What the model gives one sentence: a tag per token and the tag's probability. The
    record that travels from the network to the answer."""

    tags: list[str]
    scores: list[float]


@dataclass(frozen=True, slots=True)
class Span:
    """An entity over tokens ``start`` (inclusive) to ``end`` (exclusive)."""

    label: str
    start: int
    end: int


def tags_to_spans(tags: Sequence[str]) -> list[Span]:
    """Decode entity spans from IOB2 tags, as conlleval does.

    A stray ``I-X`` (after ``O`` or after another type) opens a new entity, so a model's
    imperfect tag sequence still yields every entity it marked.
    """
    spans: list[Span] = []
    label: str | None = None
    start = 0
    for i, tag in enumerate(tags):
        inside = tag.startswith("I-") and label == tag[2:]
        if label is not None and not inside:
            spans.append(Span(label, start, i))
            label = None
        if tag != "O" and not inside:
            label, start = tag[2:], i
    if label is not None:
        spans.append(Span(label, start, len(tags)))
    return spans


@dataclass(slots=True)
class TaggedToken:
    """A token with its offsets (characters into the text, or its index when pre-tokenized).

    Read-only by convention, not frozen, as :class:`model.tokenize.Token` (one a token)."""

    text: str
    start: int
    end: int
    tag: str
    score: float


@dataclass(frozen=True, slots=True)
class Entity:
    """An entity span; ``score`` is the mean probability of its tokens' tags."""

    text: str
    label: str
    start: int
    end: int
    score: float


@dataclass(frozen=True, slots=True)
class Tagged:
    """The tagging of one input text (or one pre-tokenized sentence)."""

    tokens: list[TaggedToken]
    entities: list[Entity]


def documents_from_texts(texts: Sequence[str]) -> list[Document]:
    """Raw texts, each tokenized and split into sentences (offsets are characters)."""
    return [Document(text, split_sentences(text)) for text in texts]


def documents_from_tokens(token_lists: Sequence[Sequence[str]]) -> list[Document]:
    """Pre-tokenized sentences, one document each (offsets are token indices); an empty one
    has no sentence to tag."""
    return [
        Document(None, [[Token(t, i, i + 1) for i, t in enumerate(tokens)]] if tokens else [])
        for tokens in token_lists
    ]


def sentences_of(documents: Sequence[Document]) -> list[list[str]]:
    """The token texts of every sentence of every document, in order: what a network tags."""
    return [[token.text for token in sentence] for d in documents for sentence in d.sentences]


def tagged(documents: Sequence[Document], predictions: Sequence[Prediction]) -> list[Tagged]:
    """Each document's sentences put back together with their predictions (one per sentence
    of :func:`sentences_of`), and its entities found."""
    out, k = [], 0
    for document in documents:
        n = len(document.sentences)
        tokens = [token for sentence in document.sentences for token in sentence]
        mine = predictions[k : k + n]
        tags = [tag for p in mine for tag in p.tags]
        out.append(
            assemble(tokens, tags, [score for p in mine for score in p.scores], document.text)
        )
        k += n
    if k != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {k} sentences")
    return out


def assemble(
    tokens: Sequence[Token], tags: Sequence[str], scores: Sequence[float], text: str | None
) -> Tagged:
    """Join tokens with their tags into a :class:`Tagged`.

    Offsets of entities are those of their first and last tokens; the entity text is the
    slice of ``text`` between them, or the tokens joined by spaces when there is no text.
    """
    tagged_tokens = [
        TaggedToken(t.text, t.start, t.end, tag, score)
        for t, tag, score in zip(tokens, tags, scores, strict=True)
    ]
    entities = []
    for span in tags_to_spans(tags):
        first, last = tokens[span.start], tokens[span.end - 1]
        if text is None:
            surface = " ".join(t.text for t in tokens[span.start : span.end])
        else:
            surface = text[first.start : last.end]
        mean = sum(scores[span.start : span.end]) / (span.end - span.start)
        entities.append(Entity(surface, span.label, first.start, last.end, mean))
    return Tagged(tagged_tokens, entities)
