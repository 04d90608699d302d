"""Dynamic batching: sentences from concurrent requests share one model call.

Callers :meth:`Batcher.submit` token lists and await their predictions. One background task
waits for a first sentence, then for the model's workers to take a batch
(:meth:`service.core.workers.Workers.take`), then adds what is queued until the batch holds
``max_batch_size`` sentences, or the next one would take it over its padded token budget, or
``max_wait`` has passed since its first sentence arrived; it hands the batch to the workers
and each caller gets its own prediction, or the batch's exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Literal

from model.pipeline import Prediction
from service.core.backend import Backend
from service.core.errors import BatcherUnavailable, BatchFailed, QueueFull, TooManySentences
from service.core.workers import Workers

log = logging.getLogger(__name__)

#: Why a batch went to the model: it was full, its token budget was, or its time was up.
Closure = Literal["size", "tokens", "deadline"]


@dataclass(slots=True)
class BatchReport:
    """What happened to one batch, for metrics and tests."""

    size: int
    tokens: int
    compute_seconds: float
    queue_waits: list[float]
    closed_by: Closure
    #: Tagged on the event loop by the copy of the model in the server (light load).
    in_server: bool = False


@dataclass(slots=True)
class Item:
    tokens: list[str]
    future: asyncio.Future[Prediction]
    enqueued: float = field(default_factory=time.perf_counter)


class Pending(asyncio.Queue[Item]):
    """The queue of sentences waiting for the model, with the number of their tokens, from
    which a caller that leaves (its client disconnected, or its deadline passed) takes its
    sentences back: none is computed for nobody, and none holds a place that another request
    could use."""

    def _init(self, maxsize: int) -> None:
        self._items: deque[Item] = deque()
        self._queue = self._items  # what asyncio.Queue's own methods (put, get, qsize) use
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


class Batcher:
    """Collects sentences into batches for ``workers`` and routes the predictions back."""

    def __init__(
        self,
        workers: Workers,
        *,
        max_batch_size: int,
        max_batch_tokens: int,
        max_wait: float,
        max_queue: int,
        on_batch: Callable[[BatchReport], None] = lambda _: None,
    ) -> None:
        if min(max_batch_size, max_batch_tokens, max_queue) < 1 or max_wait < 0:
            raise ValueError("batch size, tokens and queue must be positive; wait >= 0")
        self.workers = workers
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_wait = max_wait
        self.max_queue = max_queue
        self._on_batch = on_batch
        # Created in start(): an asyncio.Queue binds to the loop it is first used in.
        self._queue: Pending | None = None
        self._task: asyncio.Task[None] | None = None
        self._carry: Item | None = None  # taken off the queue, first of the next batch
        self._accepting = False
        self._computing: set[asyncio.Task[None]] = set()  # kept referenced until done

    @property
    def running(self) -> bool:
        """True while sentences are accepted and the background task is alive."""
        return self._accepting and self._task is not None and not self._task.done()

    @property
    def depth(self) -> int:
        """Sentences waiting for the model (not counting a batch being computed)."""
        waiting = 0 if self._queue is None else self._queue.qsize()
        return waiting + (self._carry is not None)

    def check_room(self, sentences: int = 1) -> None:
        """Raise :class:`QueueFull` unless ``sentences`` more fit in the queue now."""
        if self.depth + sentences > self.max_queue:  # a carried-over sentence waits too
            raise QueueFull(f"{self.depth} sentences already wait for the model")

    async def start(self) -> None:
        """Create the queue and start the background task in the running loop."""
        if self._task is not None:
            raise RuntimeError("batcher already started")
        self._queue = Pending(maxsize=self.max_queue)
        self._task = asyncio.create_task(self._run(), name="ner-batcher")
        self._accepting = True

    async def stop(self) -> None:
        """Refuse new sentences, finish the accepted ones, then end the background task."""
        self._accepting = False
        if self._queue is not None and self._task is not None and not self._task.done():
            await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def submit(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        """Predictions of token lists, each from whichever batch it lands in, in input order.

        All sentences are queued or none is: raises :class:`QueueFull` when they do not fit
        now, :class:`TooManySentences` when they never could, :class:`BatcherUnavailable`
        when not running, and :class:`BatchFailed` (caused by the model's exception) when
        the model failed on a batch holding one of them.
        """
        if not self.running or self._queue is None:
            raise BatcherUnavailable("the model is not serving")
        work = [i for i, s in enumerate(sentences) if len(s) > 0]
        if len(work) > self.max_queue:
            raise TooManySentences(
                f"{len(work)} sentences, but at most {self.max_queue} can wait for the model"
            )
        self.check_room(len(work))
        loop = asyncio.get_running_loop()
        items = [Item(list(sentences[i]), loop.create_future()) for i in work]
        for item in items:  # no await in between: the whole request fits, checked above
            self._queue.put_nowait(item)
        self.workers.notify()
        try:
            outcomes = await asyncio.gather(*(i.future for i in items), return_exceptions=True)
        except asyncio.CancelledError:  # the caller left: its futures are cancelled with it
            self._withdraw(items)
            raise
        results = [Prediction([], []) for _ in sentences]
        for i, outcome in zip(work, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                raise outcome
            results[i] = outcome
        return results

    def _withdraw(self, items: list[Item]) -> None:
        """Take a leaving caller's sentences out of the queue (and out of the carry-over)."""
        assert self._queue is not None
        if self._carry is not None and any(item is self._carry for item in items):
            self._carry = None
            self._queue.task_done()
        self._queue.withdraw(items)

    def _waiting_tokens(self) -> int:
        assert self._queue is not None
        return self._queue.tokens + (len(self._carry.tokens) if self._carry else 0)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            if self._carry is None:
                self._carry = await self._queue.get()
            # A batch is collected only once a worker takes it: it takes in all that queued
            # while the workers were busy.
            backend = await self.workers.take(self._waiting_tokens)
            if self._carry is None:  # its caller left meanwhile
                self.workers.give_back(backend)
                continue
            batch, closed_by = await self._collect()
            if self.workers.size == 1:  # nothing to overlap: no task of its own
                await self._finish(backend, batch, closed_by)
                continue
            task = asyncio.create_task(self._finish(backend, batch, closed_by), name="ner-batch")
            self._computing.add(task)
            task.add_done_callback(self._computing.discard)

    async def _next(self, timeout: float) -> Item | None:
        """The carried-over or next queued item; None once ``timeout`` passes."""
        assert self._queue is not None
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        if not self._queue.empty():
            return self._queue.get_nowait()
        if timeout <= 0:
            return None
        try:
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            return None

    async def _collect(self) -> tuple[list[Item], Closure]:
        """The carried-over sentence, then more until the batch is full or time is up."""
        first = await self._next(0)
        assert first is not None
        batch = [first]
        longest = len(first.tokens)
        # The wait counts from the first sentence's arrival, not from now: a sentence that
        # queued while the model was busy has waited already, so once the queue is drained
        # its batch goes to the model at once instead of idling it for another max_wait.
        deadline = first.enqueued + self.max_wait
        while len(batch) < self.max_batch_size:
            item = await self._next(deadline - time.perf_counter())
            if item is None:
                return batch, "deadline"
            # Padding is what a long sentence costs a batch of short ones: count it.
            padded = (len(batch) + 1) * max(longest, len(item.tokens))
            if padded > self.max_batch_tokens:
                self._carry = item
                return batch, "tokens"
            batch.append(item)
            longest = max(longest, len(item.tokens))
        return batch, "size"

    async def _finish(self, backend: Backend, batch: list[Item], closed_by: Closure) -> None:
        """Have ``backend`` (or the copy in the server) tag the batch; answer its callers."""
        assert self._queue is not None
        live = [item for item in batch if not item.future.done()]  # callers that left: skip
        started = time.perf_counter()
        try:
            sentences = [item.tokens for item in live]
            predictions, seconds, in_server = await self.workers.tag(backend, sentences)
        except Exception as error:  # reaches every caller; the loop goes on serving
            log.exception("batch of %d sentences failed", len(live))
            for item in live:
                if not item.future.done():
                    failed = BatchFailed(f"the model failed on a batch: {error!r}")
                    failed.__cause__ = error
                    item.future.set_exception(failed)
            return
        finally:
            for _ in batch:
                self._queue.task_done()
        for item, prediction in zip(live, predictions, strict=True):
            if not item.future.done():
                item.future.set_result(prediction)
        if live:
            report = BatchReport(
                size=len(live),
                tokens=sum(len(s) for s in sentences),
                compute_seconds=seconds,
                queue_waits=[started - item.enqueued for item in live],
                closed_by=closed_by,
                in_server=in_server,
            )
            self._on_batch(report)
