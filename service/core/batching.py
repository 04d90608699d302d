"""Dynamic batching: sentences from concurrent requests share one model call.

Callers :meth:`Batcher.submit` token lists and await their tags. One background task takes
sentences off a bounded queue until the batch holds ``max_batch_size`` of them, or the next
one would take it over its padded token budget, or ``max_wait`` has passed since its first
sentence arrived; then it runs the model in a worker thread under ``torch.inference_mode()``
(under light load, maybe on the event loop itself) and hands each caller its own result, or
the batch's exception; with ``concurrency`` above 1 up to that many batches at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import torch

from model.grouping import length_groups
from service.core.errors import (
    BatcherUnavailable,
    BatchFailed,
    BatchMismatch,
    QueueFull,
    TooManySentences,
)
from service.core.pending import BatchReport, Closure, InLoop, Item, Pending, Predict, Prediction

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class Batcher:
    """Collects sentences into batches for ``predict`` and routes the results back.

    ``call_cost_tokens`` is what one model call costs, in padded tokens (the model pads a
    call to its longest sentence): a batch is cut into groups of similar length where that
    saves more padding than the extra calls cost (:func:`length_groups`); None: never cut.
    ``synchronize`` runs in the worker thread before each clock reading (on CUDA: so that the
    compute time covers the kernels, not only their launch). ``concurrency``: batches computed
    at once, each in a worker thread of its own, by ``predict`` (then taking that many calls
    side by side), or given a list (one a model process, say; its length is the concurrency)
    by a free one of them, the last freed first (its caches warm); a batch is collected only
    once a worker is free, so that it takes in all that queued meanwhile. ``in_loop`` tags a
    small batch on the event loop, without the hand-over to a worker (and its model process),
    when no other batch is out and the server is under light load (:class:`InLoop`)."""

    def __init__(
        self,
        predict: Predict | list[Predict],
        *,
        max_batch_size: int,
        max_batch_tokens: int,
        max_wait: float,
        max_queue: int,
        call_cost_tokens: int | None = None,
        concurrency: int = 1,
        spill_tokens: int = 0,
        in_loop: InLoop | None = None,
        synchronize: Callable[[], None] = lambda: None,
        on_batch: Callable[[BatchReport], None] = lambda _: None,
    ) -> None:
        self._idle = list(predict) if isinstance(predict, list) else [predict] * concurrency
        concurrency = len(self._idle)
        if min(max_batch_size, max_batch_tokens, max_queue, concurrency) < 1 or max_wait < 0:
            raise ValueError("batch size, tokens, queue, concurrency must be positive; wait >= 0")
        if call_cost_tokens is not None and call_cost_tokens < 0:
            raise ValueError("the cost of a model call cannot be negative")
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.call_cost_tokens = call_cost_tokens
        self.concurrency = concurrency
        self.spill_tokens = spill_tokens
        self.in_loop = in_loop
        self._synchronize = synchronize
        self._on_batch = on_batch
        # Created in start(): an asyncio.Queue binds to the loop it is first used in.
        self._queue: Pending | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._carry: Item | None = None
        self._accepting = False
        self._free: asyncio.Semaphore | None = None  # workers free to take a batch
        self._computing: set[asyncio.Task[None]] = set()  # kept referenced until done
        self._in_flight = 0  # batches sent to the model and not back yet
        self._waiting_tokens = 0  # of the queued sentences and the carried-over one
        self._wake = asyncio.Event()  # a batch finished, or sentences arrived

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
        self._free = asyncio.Semaphore(self.concurrency)
        self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="ner-model")
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
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        """Tag token lists, each in whichever batch it lands in; results in input order.

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
        self._waiting_tokens += sum(len(item.tokens) for item in items)
        self._wake.set()
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

    async def call(self, function: Callable[..., _T], *args: Any) -> _T:
        """``function(*args)``, a model call of its own on a worker thread (under
        ``torch.inference_mode()``), for work not to be split or mixed with other sentences.
        Raises :class:`BatcherUnavailable` when not running, :class:`BatchFailed` if it fails."""
        if not self.running or self._executor is None:
            raise BatcherUnavailable("the model is not serving")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, _inference, function, *args)
        except Exception as error:
            log.exception("a model call of its own failed")
            raise BatchFailed(f"the model failed on a call: {error!r}") from error

    def _withdraw(self, items: list[Item]) -> None:
        """Take a leaving caller's sentences out of the queue (and out of the carry-over)."""
        assert self._queue is not None
        if self._carry is not None and any(item is self._carry for item in items):
            self._waiting_tokens -= len(self._carry.tokens)
            self._carry = None
            self._queue.task_done()
        self._waiting_tokens -= self._queue.withdraw(items)

    async def _run(self) -> None:
        assert self._free is not None
        while True:
            await self._free.acquire()
            # Beside a batch that computes, another only for enough tokens (small ones cost
            # more per sentence, and the one computing soon takes them all in).
            while self._in_flight and self._waiting_tokens < self.spill_tokens:
                self._wake.clear()
                await self._wake.wait()
            batch, closed_by = await self._collect()
            predict = self._idle.pop()  # the worker freed last
            self._waiting_tokens -= sum(len(item.tokens) for item in batch)
            self._in_flight += 1
            if self.concurrency == 1:  # nothing to overlap: no task of its own
                await self._finish(batch, closed_by, predict)
                continue
            task = asyncio.create_task(self._finish(batch, closed_by, predict), name="ner-batch")
            self._computing.add(task)
            task.add_done_callback(self._computing.discard)

    async def _finish(self, batch: list[Item], closed_by: Closure, predict: Predict) -> None:
        assert self._queue is not None and self._free is not None
        freed = False

        def free() -> None:
            # Before its callers are answered: the next batch goes to the model first.
            nonlocal freed
            if not freed:
                freed = True
                self._in_flight -= 1
                self._idle.append(predict)
                self._free.release()  # type: ignore[union-attr]
                self._wake.set()

        try:
            await self._process(batch, closed_by, predict, free)
        except Exception as error:  # reaches every caller; the loop goes on serving
            log.exception("batch of %d sentences failed", len(batch))
            for item in batch:
                if not item.future.done():
                    failed = BatchFailed(f"the model failed on a batch: {error!r}")
                    failed.__cause__ = error
                    item.future.set_exception(failed)
        finally:
            for _ in batch:
                self._queue.task_done()
            free()

    async def _next(self, timeout: float | None) -> Item | None:
        """The carried-over or next queued item; None once ``timeout`` passes."""
        assert self._queue is not None
        if self._carry is not None:
            item, self._carry = self._carry, None
            return item
        if timeout is None or not self._queue.empty():
            return await self._queue.get()  # at once if one waits
        if timeout <= 0:
            return None
        try:
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            return None

    async def _collect(self) -> tuple[list[Item], Closure]:
        """Wait for a first sentence, then add more until the batch is full or time is up."""
        first = await self._next(None)
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

    async def _process(
        self, batch: list[Item], closed_by: Closure, predict: Predict, free: Callable[[], None]
    ) -> None:
        live = [item for item in batch if not item.future.done()]  # callers that left: skip
        if not live:
            return
        # Sorted by length, so that groups of similar length can be cut off.
        live.sort(key=lambda item: len(item.tokens))
        sentences = [item.tokens for item in live]
        groups = [slice(0, len(sentences))]
        if self.call_cost_tokens is not None and len(sentences) > 1:  # one: nothing to cut
            groups = length_groups([len(s) for s in sentences], self.call_cost_tokens)
        started = time.perf_counter()
        tokens = sum(len(s) for s in sentences)
        in_loop = self.in_loop if self._in_flight == 1 else None  # no other batch out
        if in_loop and not (tokens <= in_loop.max_tokens and in_loop.light_load()):
            in_loop = None
        try:  # an exception here reaches every caller of the batch through _run
            if in_loop is not None:
                predictions, compute = self._compute(sentences, groups, in_loop.predict)
            else:
                predictions, compute = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._compute, sentences, groups, predict
                )
        finally:
            free()
        for item, prediction in zip(live, predictions, strict=True):
            if not item.future.done():
                item.future.set_result(prediction)
        self._on_batch(
            BatchReport(
                size=len(live),
                tokens=tokens,
                compute_seconds=compute,
                queue_waits=[started - item.enqueued for item in live],
                closed_by=closed_by,
                calls=len(groups),
                in_loop=in_loop is not None,
            )
        )

    def _compute(
        self, sentences: list[list[str]], groups: list[slice], predict: Predict
    ) -> tuple[list[Prediction], float]:
        """Run ``predict`` on one batch, a call per group; results and compute seconds."""
        predictions: list[Prediction] = []
        # inference_mode is thread-local: it has to be entered in the thread that computes.
        with torch.inference_mode():
            self._synchronize()
            started = time.perf_counter()
            for group in groups:
                predictions += checked(sentences[group], *predict(sentences[group]))
            self._synchronize()
            seconds = time.perf_counter() - started
        return predictions, seconds


def _inference(function: Callable[..., _T], *args: Any) -> _T:
    with torch.inference_mode():  # thread-local, as in _compute
        return function(*args)


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
