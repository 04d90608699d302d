"""What the batcher deals in: a model's predictions, how it is called, and what happened to
each batch (:mod:`service.core.batching`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

#: Tags and their probabilities for each sentence of a batch, in batch order.
Predict = Callable[[list[list[str]]], tuple[list[list[str]], list[list[float]]]]
#: The same, awaited on the event loop (a model in another process: no thread in between).
PredictAsync = Callable[[list[list[str]]], Awaitable[tuple[list[list[str]], list[list[float]]]]]
#: Why a batch went to the model: it was full, its token budget was, or its time was up.
Closure = Literal["size", "tokens", "deadline"]


class Prediction(NamedTuple):
    """The tags of one sentence and the probability of each."""

    tags: list[str]
    scores: list[float]


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What happened to one batch, for metrics and tests."""

    size: int
    tokens: int
    compute_seconds: float
    queue_waits: list[float]
    closed_by: Closure
    #: Model calls the batch was cut into (groups of similar length).
    calls: int = 1
