"""The :class:`Tagger`: raw text or token lists in, tagged tokens and entity spans out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from model.artifact import DEFAULT_MODEL, LoadedModel, load
from model.data import tags_to_spans
from model.deciding import probabilities_of
from model.features import predict
from model.tokenize import Token, split_sentences


@dataclass(frozen=True, slots=True)
class TaggedToken:
    """A token with its offsets (characters into the text, or its index when pre-tokenized)."""

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


class Tagger:
    """Tags raw text (tokenized and split into sentences here) or pre-tokenized sentences."""

    def __init__(self, model: LoadedModel, device: str | torch.device = "cpu") -> None:
        self.model = model
        self.device = torch.device(device)
        model.network.to(self.device).eval()

    @classmethod
    def load(cls, path: str | Path = DEFAULT_MODEL, device: str | torch.device = "cpu") -> Tagger:
        """Load an artifact directory (the bundled BiGRU by default)."""
        return cls(load(path, device), device)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def labels(self) -> list[str]:
        return self.model.vocab.labels

    @property
    def bidirectional(self) -> bool:
        return self.model.network.config.bidirectional

    def tag_sentences(
        self, sentences: Sequence[Sequence[str]]
    ) -> tuple[list[list[str]], list[list[float]]]:
        """Tags and tag probabilities of each token list, in one or more padded batches."""
        return predict(self.model.network, self.model.vocab, sentences, device=self.device)

    def probabilities_of(
        self, sentences: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]
    ) -> tuple[list[list[str]], list[list[float]]]:
        """Tags of each token list, and each token's probability of the label ``labels`` gives
        it, in one batch (see :mod:`model.deciding`)."""
        return probabilities_of(
            self.model.network, self.model.vocab, sentences, labels, device=self.device
        )

    def tag_tokens(self, sentences: Sequence[Sequence[str]]) -> list[Tagged]:
        """Tag pre-tokenized sentences; offsets are token indices."""
        tags, scores = self.tag_sentences(sentences)
        out = []
        for tokens, sentence_tags, sentence_scores in zip(sentences, tags, scores, strict=True):
            positioned = [Token(t, i, i + 1) for i, t in enumerate(tokens)]
            out.append(assemble(positioned, sentence_tags, sentence_scores, text=None))
        return out

    def tag(self, texts: Sequence[str]) -> list[Tagged]:
        """Tag raw texts: each is split into sentences, tagged, and put back together."""
        split = [split_sentences(text) for text in texts]
        flat = [[t.text for t in sentence] for sentences in split for sentence in sentences]
        tags, scores = self.tag_sentences(flat)
        out, k = [], 0
        for text, sentences in zip(texts, split, strict=True):
            tokens: list[Token] = []
            text_tags: list[str] = []
            text_scores: list[float] = []
            for sentence in sentences:
                tokens += sentence
                text_tags += tags[k]
                text_scores += scores[k]
                k += 1
            out.append(assemble(tokens, text_tags, text_scores, text))
        return out


def assemble(
    tokens: Sequence[Token], tags: Sequence[str], scores: Sequence[float], text: str | None
) -> Tagged:
    """Join tokens with their tags into a :class:`Tagged`.

    Offsets of entities are those of their first and last tokens; the entity text is the
    slice of ``text`` between them, or the tokens joined by spaces when there is no text.
    """
    tagged = [
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
    return Tagged(tagged, entities)
