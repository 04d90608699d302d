"""The steps of a compare request: the same sentences through the forward-only and the
bidirectional model (each through its own batcher), then the two taggings side by side."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from model.tagger import Tagged
from service import pipeline
from service.batching import Batcher, Prediction
from service.pipeline import Document, ModelInfo
from service.schemas import (
    ComparedEntities,
    ComparedToken,
    CompareModels,
    CompareResponse,
    CompareResult,
    DecidingWord,
    EntityOut,
    TagScore,
)


async def predict_both(
    forward: Batcher, bidirectional: Batcher, documents: Sequence[Document], retry_after: int
) -> tuple[list[list[Prediction]], list[list[Prediction]]]:
    """Tags of every sentence from both models, computed side by side; the first error (a
    :class:`service.errors.ServiceError`) is raised once both have answered."""
    outcomes = await asyncio.gather(
        pipeline.predict(forward, documents, retry_after),
        pipeline.predict(bidirectional, documents, retry_after),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    left, both = outcomes
    assert not isinstance(left, BaseException) and not isinstance(both, BaseException)
    return left, both


def _entities(tagged: Tagged) -> list[EntityOut]:
    return [EntityOut.model_validate(e, from_attributes=True) for e in tagged.entities]


def side_by_side(
    forward: Tagged, bidirectional: Tagged, deciding: Mapping[int, DecidingWord] | None = None
) -> CompareResult:
    """One input's two taggings, token by token, with the tokens whose label changed and,
    when found, their deciding words (by token index)."""
    deciding = deciding or {}
    tokens = [
        ComparedToken(
            text=left.text,
            start=left.start,
            end=left.end,
            forward=TagScore(tag=left.tag, score=left.score),
            bidirectional=TagScore(tag=both.tag, score=both.score),
            changed=left.tag != both.tag,
            deciding=deciding.get(i),
        )
        for i, (left, both) in enumerate(zip(forward.tokens, bidirectional.tokens, strict=True))
    ]
    return CompareResult(
        tokens=tokens,
        entities=ComparedEntities(
            forward=_entities(forward), bidirectional=_entities(bidirectional)
        ),
        changed=sum(t.changed for t in tokens),
    )


def encode(
    documents: Sequence[Document],
    forward: Sequence[Sequence[Prediction]],
    bidirectional: Sequence[Sequence[Prediction]],
    models: tuple[ModelInfo, ModelInfo],
    deciding: Sequence[Mapping[int, DecidingWord]] | None = None,
) -> CompareResponse:
    """The answer: each document's two taggings side by side, under the models' names, with
    each document's deciding words when they were asked for."""
    left, both = pipeline.encode(documents, forward), pipeline.encode(documents, bidirectional)
    found = [None] * len(documents) if deciding is None else deciding
    return CompareResponse(
        models=CompareModels(forward=models[0].name, bidirectional=models[1].name),
        device=models[1].device,
        results=[side_by_side(a, b, d) for a, b, d in zip(left, both, found, strict=True)],
    )
