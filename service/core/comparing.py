"""The use case of ``/v1/compare``: the same sentences through the forward-only and the
bidirectional model (each through its own batcher), the two taggings side by side, and, when
asked for, the deciding words (:mod:`service.core.deciding`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from model.pipeline import Document, Prediction, Tagged, tagged
from service.core.backend import ModelInfo
from service.core.deciding import DecidingWord, check_sentences, find
from service.core.errors import ServiceError
from service.core.service import Inputs, ServedModel, Service, decode, predict

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Compared:
    """One input as both models tag it and, when asked for, the deciding word of each token
    whose label changed (by the token's index)."""

    forward: Tagged
    bidirectional: Tagged
    deciding: dict[int, DecidingWord] | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """The answer to a compare request: the two models and one :class:`Compared` per input."""

    forward: ModelInfo
    bidirectional: ModelInfo
    results: list[Compared]


async def predict_both(
    forward: ServedModel, bidirectional: ServedModel, documents: Sequence[Document]
) -> tuple[list[Prediction], list[Prediction]]:
    """Tags of every sentence from both models, computed side by side; the first error (a
    :class:`service.core.errors.ServiceError`) is raised once both have answered."""
    outcomes = await asyncio.gather(
        predict(forward.batcher, documents),
        predict(bidirectional.batcher, documents),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    left, both = outcomes
    assert not isinstance(left, BaseException) and not isinstance(both, BaseException)
    return left, both


def pair(service: Service, name: str | None = None) -> tuple[ServedModel, ServedModel]:
    """The model ``name`` (None: the default) and the forward-only twin it names;
    ``compare_disabled`` when it names none."""
    model = service.models.get(name or service.default or "")
    if model is not None and model.twin is None:
        raise ServiceError(
            "compare_disabled",
            f"the model {model.name!r} has no forward-only twin to compare it with "
            "(NER_FORWARD_MODEL is off, or its model.json names none); use /v1/tag",
        )
    bidirectional = service.serving(name)
    return bidirectional, service.serving(model.twin if model else None)


async def compare(
    service: Service,
    pair: tuple[ServedModel, ServedModel],
    inputs: Inputs,
    client: str,
    deciding_words: bool,
    encode: Callable[[Comparison], _T],
) -> _T:
    """``/v1/compare``: the inputs tagged by both models of ``pair`` (a model and its
    forward-only twin, from :func:`pair`), encoded by ``encode``."""
    served, twin = pair
    settings, metrics = service.settings, service.metrics
    with service.admission(client), served, twin:
        documents = await decode(inputs, settings, metrics)
        if deciding_words:
            check_sentences(documents, settings)
        forward, bidirectional = await predict_both(twin, served, documents)
        found = None
        if deciding_words:
            found = await find(served.workers, documents, forward, bidirectional, settings)
        started = time.perf_counter()
        lefts, boths = tagged(documents, forward), tagged(documents, bidirectional)
        decided: Sequence[dict[int, DecidingWord] | None] = found or [None] * len(documents)
        results = [Compared(*r) for r in zip(lefts, boths, decided, strict=True)]
        info = (twin.workers.info, served.workers.info)
        answer = encode(Comparison(*info, results))
        metrics.postprocess_duration.observe(time.perf_counter() - started)
        metrics.observe_comparison(
            [
                (both.tag, left.tag != both.tag)
                for r in results
                for left, both in zip(r.forward.tokens, r.bidirectional.tokens, strict=True)
            ]
        )
        if found is not None:
            metrics.observe_deciding([d.distance for f in found for d in f.values()])
        return answer
