"""What the batcher holds: the sentences waiting for the model, in a queue from which a
caller that leaves takes its own back, and what comes out of the model for each."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from service.core.errors import BatchMismatch

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
        self._queue = self._items  # what asyncio.Queue's own methods (qsize, empty) read
        #: Tokens of the sentences waiting.
        self.tokens = 0

    def _put(self, item: Item) -> None:
        self._items.append(item)
        self.tokens += len(item.tokens)

    def _get(self) -> Item:
        item = self._items.popleft()
        self.tokens -= len(item.tokens)
        return item

    def withdraw(self, items: Collection[Item]) -> None:
        """Remove those of ``items`` that still wait, and count them done for :meth:`join`."""
        leaving = {id(item) for item in items}
        kept = [item for item in self._items if id(item) not in leaving]
        removed = len(self._items) - len(kept)
        self._items.clear()
        self._items.extend(kept)
        self.tokens = sum(len(item.tokens) for item in kept)
        for _ in range(removed):
            self.task_done()


def checked(
    sentences: list[list[str]], tags: list[list[str]], scores: list[list[float]]
) -> list[Prediction]:
    """The model's output as predictions, once it is known to fit the sentences."""
    if len(tags) != len(sentences) or len(scores) != len(sentences):
        raise BatchMismatch(
            f"model returned {len(tags)} tag lists and {len(scores)} score lists "
            f"for {len(sentences)} sentences"
        )
    for tokens, sentence_tags, sentence_scores in zip(sentences, tags, scores, strict=True):
        if not len(tokens) == len(sentence_tags) == len(sentence_scores):
            raise BatchMismatch(f"model returned {len(sentence_tags)} tags, {len(tokens)} tokens")
    return [Prediction(t, s) for t, s in zip(tags, scores, strict=True)]
