"""The batcher's queue and life: full queues, its worker thread, draining, callers that leave,
and calls of their own."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import torch

from service.core.batching import Batcher
from service.core.errors import (
    BatcherUnavailable,
    BatchFailed,
    QueueFull,
    TooManySentences,
)
from service.core.pending import BatchReport
from tests.service.core.batchers import running, sentence
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


async def test_compute_time_waits_for_the_device() -> None:
    calls: list[str] = []

    def predict(sentences: list[list[str]]) -> tuple[list[list[str]], list[list[float]]]:
        calls.append("predict")
        return [["O"] * len(s) for s in sentences], [[1.0] * len(s) for s in sentences]

    def synchronize() -> None:  # stands in for torch.cuda.synchronize: kernels still running
        calls.append("synchronize")
        if calls.count("predict"):
            time.sleep(0.1)

    reports: list[BatchReport] = []
    batcher = Batcher(
        predict,
        max_batch_size=2,
        max_batch_tokens=100,
        max_wait=0.001,
        max_queue=10,
        synchronize=synchronize,
        on_batch=reports.append,
    )
    await batcher.start()
    await batcher.submit([["a"]])
    await batcher.stop()
    assert calls == ["synchronize", "predict", "synchronize"]
    assert reports[0].compute_seconds >= 0.1


async def test_stop_drains_accepted_sentences_and_refuses_new_ones(stub: StubTagger) -> None:
    stub.gate.clear()
    batcher = Batcher(
        stub.tag_sentences, max_batch_size=1, max_batch_tokens=100, max_wait=0, max_queue=10
    )
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
        stub.tag_sentences, max_batch_size=1, max_batch_tokens=10, max_wait=0, max_queue=1
    )
    assert not batcher.running
    with pytest.raises(BatcherUnavailable):
        await batcher.submit([["a"]])


async def test_a_call_of_its_own_runs_on_the_model_thread_between_batches(
    stub: StubTagger,
) -> None:
    seen: list[tuple[str, bool]] = []

    def probe(x: int) -> int:
        seen.append((threading.current_thread().name, torch.is_inference_mode_enabled()))
        return x + 1

    def broken() -> None:
        raise RuntimeError("boom")

    async with running(stub) as batcher:
        stub.gate.clear()  # the next batch stays in the model
        tagging = asyncio.create_task(batcher.submit([["Mary"]]))
        await wait_until(lambda: stub.batches)
        called = asyncio.create_task(batcher.call(probe, 41))
        await asyncio.sleep(0.05)
        assert not called.done() and seen == []  # it waits for the batch in the model
        stub.gate.set()
        assert await called == 42
        await tagging
        assert seen == [(stub.threads[0], True)]
        with pytest.raises(BatchFailed) as failed:
            await batcher.call(broken)
        assert isinstance(failed.value.__cause__, RuntimeError)
        assert await batcher.call(probe, 1) == 2  # it goes on serving
    with pytest.raises(BatcherUnavailable):
        await batcher.call(probe, 1)
