"""The batcher's types: a sentence waiting for the model, the queue they wait in (from which a
caller that leaves takes its own back), what the model gives each, and what a batch reports.
None of their code runs for a request that goes through (the queue's own is asyncio's)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

#: Why a batch went to the model: it was full, its token budget was, or its time was up.
Closure = Literal["size", "tokens", "deadline"]
#: Tags and their probabilities for each sentence of a batch, in batch order.
Predict = Callable[[list[list[str]]], tuple[list[list[str]], list[list[float]]]]


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
    #: Tagged on the event loop by the copy of the model in the server (light load).
    in_loop: bool = False


class InLoop(NamedTuple):
    """A copy of the model in the server, for the batcher to tag a batch of at most
    ``max_tokens`` tokens on the event loop while ``light_load()`` (nobody else to serve)."""

    predict: Predict
    max_tokens: int
    light_load: Callable[[], bool]


@dataclass(slots=True)
class Item:
    tokens: list[str]
    future: asyncio.Future[Prediction]
    enqueued: float = field(default_factory=time.perf_counter)


class Pending(asyncio.Queue[Item]):
    """The queue of sentences waiting for the model, from which a caller that leaves (its
    client disconnected, or its deadline passed) takes its sentences back: none is computed
    for nobody, and none holds a place that another request could use."""

    def _init(self, maxsize: int) -> None:
        self._items: deque[Item] = deque()
        self._queue = self._items  # what asyncio.Queue's own methods (put, get, qsize) use

    def withdraw(self, items: Collection[Item]) -> int:
        """Remove those of ``items`` that still wait, and count them done for :meth:`join`;
        their tokens."""
        leaving = {id(item) for item in items}
        kept = [item for item in self._items if id(item) not in leaving]
        removed = len(self._items) - len(kept)
        tokens = sum(len(item.tokens) for item in self._items) - sum(len(i.tokens) for i in kept)
        self._items.clear()
        self._items.extend(kept)
        for _ in range(removed):
            self.task_done()
        return tokens
