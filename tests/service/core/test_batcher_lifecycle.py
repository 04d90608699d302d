"""The batcher's queue and life: full queues, the worker thread, draining, callers that
leave."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from model.pipeline import Prediction
from service.core.backend import InProcessBackend
from service.core.batching import Batcher, BatchReport
from service.core.errors import BatcherUnavailable, QueueFull, TooManySentences
from service.core.workers import Workers
from tests.service.core.batchers import running, sentence, workers_of
from tests.service.support import StubTagger, wait_until

pytestmark = pytest.mark.anyio


async def test_full_queue_refuses_at_once_and_whole_requests_only(stub: StubTagger) -> None:
    stub.gate.clear()
    async with running(stub, max_batch_size=1, max_queue=3) as batcher:
        held = asyncio.create_task(batcher.submit([["held"]]))
        await wait_until(lambda: stub.batches)  # in the model, out of the queue
        queued = asyncio.create_task(batcher.submit([["one"], ["two"]]))
        await wait_until(lambda: batcher.depth == 2)
        with pytest.raises(QueueFull):
            await batcher.submit([["three"], ["four"]])  # one would fit: none is queued
        assert batcher.depth == 2
        with pytest.raises(TooManySentences):
            await batcher.submit([["x"]] * 4)  # could never fit
        stub.gate.set()
        assert (await held)[0].tags == ["O"]
        assert [r.tags for r in await queued] == [["O"], ["O"]]
        assert (await batcher.submit([["three"], ["four"]]))[1].tags == ["O"]


async def test_model_runs_in_a_worker_thread_under_inference_mode(stub: StubTagger) -> None:
    async with running(stub) as batcher:
        await batcher.submit([["a"]])
    assert stub.inference_mode == [True]
    assert stub.threads[0] != threading.main_thread().name


class _Device(StubTagger):
    """A model whose kernels run on after its call returns, as on CUDA."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        self.calls.append("tag")
        return super().tag_sentences(sentences)


class _Synchronizing(InProcessBackend):
    def synchronize(self) -> None:  # stands in for torch.cuda.synchronize
        calls = self.tagger.calls  # type: ignore[attr-defined]
        calls.append("synchronize")
        if "tag" in calls:
            time.sleep(0.1)


async def test_compute_time_waits_for_the_device() -> None:
    model = _Device()
    reports: list[BatchReport] = []
    async with running(Workers([_Synchronizing(model)]), reports) as batcher:
        await batcher.submit([["a"]])
    assert model.calls == ["synchronize", "tag", "synchronize"]
    assert reports[0].compute_seconds >= 0.1


async def test_stop_drains_accepted_sentences_and_refuses_new_ones(stub: StubTagger) -> None:
    stub.gate.clear()
    workers = workers_of(stub)
    workers.start()
    batcher = Batcher(workers, max_batch_size=1, max_batch_tokens=100, max_wait=0, max_queue=10)
    await batcher.start()
    in_model = asyncio.create_task(batcher.submit([["first"]]))
    await wait_until(lambda: stub.batches)
    waiting = asyncio.create_task(batcher.submit([["second"]]))
    await wait_until(lambda: batcher.depth == 1)
    stopping = asyncio.create_task(batcher.stop())
    await wait_until(lambda: not batcher.running)
    with pytest.raises(BatcherUnavailable):
        await batcher.submit([["late"]])
    await asyncio.sleep(0.05)
    assert not stopping.done()  # still draining
    stub.gate.set()
    async with asyncio.timeout(10):
        assert (await in_model)[0].tags == ["O"]
        assert (await waiting)[0].tags == ["O"]
        await stopping
    workers.stop()
    assert [b[0] for b in stub.batches] == [["first"], ["second"]]


async def test_caller_that_left_is_not_computed(stub: StubTagger) -> None:
    stub.gate.clear()
    async with running(stub, max_batch_size=1) as batcher:
        held = asyncio.create_task(batcher.submit([["held"]]))
        await wait_until(lambda: stub.batches)
        gone = asyncio.create_task(batcher.submit([["gone"]]))
        kept = asyncio.create_task(batcher.submit([["kept"]]))
        await wait_until(lambda: batcher.depth == 2)
        gone.cancel()
        await wait_until(lambda: batcher.depth == 1)  # withdrawn at once, model still busy
        stub.gate.set()
        await held
        await kept
    assert [b[0] for b in stub.batches] == [["held"], ["kept"]]


async def test_callers_that_leave_free_their_places_and_leave_nothing_behind(
    stub: StubTagger,
) -> None:
    stub.gate.clear()
    async with running(stub, max_batch_size=4, max_batch_tokens=4, max_queue=3) as batcher:
        # Queued in the same step: A's two sentences fill the token budget, so the batcher
        # holds B's back (carried over to the next batch) while A is in the model.
        held = asyncio.create_task(batcher.submit([sentence(2), sentence(2)]))
        carried = asyncio.create_task(batcher.submit([sentence(2)]))
        await wait_until(lambda: stub.batches)
        queued = asyncio.create_task(batcher.submit([sentence(1), sentence(1)]))
        await wait_until(lambda: batcher.depth == 3)
        with pytest.raises(QueueFull):
            await batcher.submit([["x"]])
        carried.cancel()
        queued.cancel()
        await asyncio.gather(carried, queued, return_exceptions=True)
        assert batcher.depth == 0  # nothing waits for callers that left, model still busy
        fits = asyncio.create_task(batcher.submit([["y"]] * 3))  # their places are free
        await wait_until(lambda: batcher.depth == 3)
        stub.gate.set()
        async with asyncio.timeout(10):
            assert len(await held) == 2 and len(await fits) == 3
    assert [[len(s) for s in b] for b in stub.batches] == [[2, 2], [1, 1, 1]]


async def test_submit_before_start_is_refused(stub: StubTagger) -> None:
    batcher = Batcher(
        workers_of(stub), max_batch_size=1, max_batch_tokens=10, max_wait=0, max_queue=1
    )
    assert not batcher.running
    with pytest.raises(BatcherUnavailable):
        await batcher.submit([["a"]])
