"""The copies of one model (:class:`service.core.workers.Workers`) over stub taggers: which
one takes the next batch (free list, the one freed last first), a second batch only once
enough waits, the copy in the server under light load and not otherwise, deciding-word calls
on a free backend, and restarts, retiring, closing and liveness reaching every copy. With
real model processes: ``test_workers_with_the_model.py``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest
import torch

from model.pipeline import Prediction
from service.core.backend import InProcessBackend
from service.core.batching import BatchReport
from service.core.errors import BatchFailed, BatchMismatch
from service.core.loading import close
from service.core.process import ModelProcessError
from service.core.workers import Workers
from tests.service.core.batchers import running, sentence, workers_of
from tests.service.support import StubTagger, stub_tags, wait_until


class _Meeting(StubTagger):
    """A stub whose batches each wait until ``parties`` batches are inside it at once."""

    def __init__(self, parties: int, timeout: float = 10) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=timeout)

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        self.barrier.wait()  # raises BrokenBarrierError unless the others come in meanwhile
        return super().tag_sentences(sentences)


class _Asked(StubTagger):
    """A stub that records its deciding-word calls, held by the same gate as its batches,
    and can be made to fail one or to drop a result."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, bool]] = []
        self.drop = False

    def probabilities_of(
        self, sentences: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]
    ) -> list[Prediction]:
        self.asked.append((threading.current_thread().name, torch.is_inference_mode_enabled()))
        if not self.gate.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        answer = super().probabilities_of(sentences, labels)
        return answer[:-1] if self.drop else answer


# Which backend takes the next batch


def test_workers_need_a_backend() -> None:
    with pytest.raises(ValueError, match="at least one backend"):
        Workers([])


@pytest.mark.anyio
async def test_a_backend_is_taken_once_free_and_the_one_freed_last_goes_first() -> None:
    workers = workers_of(StubTagger(), StubTagger())
    workers.start()
    first, second = await workers.take(), await workers.take()
    assert first is not second
    taking = asyncio.create_task(workers.take())
    await asyncio.sleep(0.05)
    assert not taking.done()  # none is free
    workers.give_back(second)
    workers.give_back(first)
    async with asyncio.timeout(10):
        assert await taking is first
    assert await workers.take() is second
    workers.stop()


@pytest.mark.anyio
async def test_two_backends_compute_two_batches_at_once() -> None:
    stub = _Meeting(2)
    async with running(workers_of(stub, stub), max_batch_size=1, max_wait=0) as batcher:
        async with asyncio.timeout(20):
            first, second = await asyncio.gather(
                batcher.submit([sentence(3)]), batcher.submit([sentence(4)])
            )
    assert [len(p.tags) for p in first + second] == [3, 4]
    assert len(set(stub.threads)) == 2


@pytest.mark.anyio
async def test_one_backend_never_computes_two_batches_at_once() -> None:
    stub = _Meeting(2, timeout=0.5)
    async with running(stub, max_batch_size=1, max_wait=0) as batcher:
        outcomes = await asyncio.gather(
            batcher.submit([sentence(3)]), batcher.submit([sentence(4)]), return_exceptions=True
        )
    assert all(isinstance(outcome, BatchFailed) for outcome in outcomes)


@pytest.mark.anyio
async def test_a_batch_goes_to_the_backend_freed_last() -> None:
    stubs = [StubTagger(), StubTagger()]
    async with running(workers_of(*stubs), max_batch_size=1, max_wait=0) as batcher:
        for n in range(1, 4):  # one at a time: the same backend each time
            await batcher.submit([sentence(n)])
        assert sorted(len(s.batches) for s in stubs) == [0, 3]
        busy = next(s for s in stubs if s.batches)
        busy.gate.clear()  # held: the next batch goes to the other backend
        held = asyncio.create_task(batcher.submit([sentence(4)]))
        await wait_until(lambda: len(busy.batches) == 4)
        await batcher.submit([sentence(5)])
        assert [len(s.batches) for s in stubs if s is not busy] == [1]
        busy.gate.set()
        await held


# The spill rule: while one batch computes, another goes out only once enough tokens wait


@pytest.mark.anyio
async def test_with_a_batch_out_a_backend_is_taken_only_once_enough_tokens_wait() -> None:
    workers = workers_of(StubTagger(), StubTagger(), spill_tokens=10)
    workers.start()
    waiting = [0]
    first = await workers.take(lambda: waiting[0])  # none out: it goes at once
    second = asyncio.create_task(workers.take(lambda: waiting[0]))
    await asyncio.sleep(0.05)
    waiting[0] = 9
    workers.notify()
    await asyncio.sleep(0.05)
    assert not second.done()
    waiting[0] = 10
    workers.notify()
    async with asyncio.timeout(10):
        assert await second is not first
    workers.stop()


@pytest.mark.anyio
async def test_a_second_batch_waits_until_enough_tokens_wait(stub: StubTagger) -> None:
    stub.gate.clear()  # the first batch stays in the model
    async with running(workers_of(stub, stub, spill_tokens=10), max_wait=0) as batcher:
        first = asyncio.create_task(batcher.submit([sentence(2)]))
        await wait_until(lambda: len(stub.batches) == 1)
        few = asyncio.create_task(batcher.submit([sentence(3)]))
        await asyncio.sleep(0.2)
        assert len(stub.batches) == 1, "3 tokens went to the second backend"
        more = asyncio.create_task(batcher.submit([sentence(7, "x")]))
        await wait_until(lambda: len(stub.batches) == 2)
        assert stub.batches[1] == [sentence(3), sentence(7, "x")]
        stub.gate.set()
        await asyncio.gather(first, few, more)


@pytest.mark.anyio
async def test_the_tokens_of_a_caller_that_left_no_longer_count(stub: StubTagger) -> None:
    stub.gate.clear()
    async with running(workers_of(stub, stub, spill_tokens=10), max_wait=0) as batcher:
        first = asyncio.create_task(batcher.submit([sentence(2)]))
        await wait_until(lambda: len(stub.batches) == 1)
        leaving = asyncio.create_task(batcher.submit([sentence(8)]))
        await asyncio.sleep(0.05)
        leaving.cancel()
        staying = asyncio.create_task(batcher.submit([sentence(3)]))
        await asyncio.sleep(0.2)
        assert len(stub.batches) == 1, "8 tokens that left still counted"
        stub.gate.set()
        await asyncio.gather(first, staying)
    assert stub.batches[1] == [sentence(3)]


@pytest.mark.anyio
async def test_with_one_batch_computing_a_small_one_goes_once_it_is_back(
    stub: StubTagger,
) -> None:
    stub.gate.clear()
    async with running(workers_of(stub, stub, spill_tokens=100), max_wait=0) as batcher:
        first = asyncio.create_task(batcher.submit([sentence(2)]))
        await wait_until(lambda: len(stub.batches) == 1)
        second = asyncio.create_task(batcher.submit([sentence(3)]))
        await asyncio.sleep(0.1)  # the other backend is free, but 3 tokens are not enough
        third = asyncio.create_task(batcher.submit([sentence(1)]))
        await asyncio.sleep(0.1)
        assert len(stub.batches) == 1
        stub.gate.set()
        async with asyncio.timeout(10):
            await asyncio.gather(first, second, third)
    assert [len(b) for b in stub.batches] == [1, 2]


# The copy in the server: small batches under light load, on the event loop


@pytest.mark.anyio
async def test_a_lone_small_batch_under_light_load_is_tagged_on_the_event_loop(
    stub: StubTagger,
) -> None:
    copy, light = StubTagger(), [False]
    workers = workers_of(stub, stub, copy=copy, copy_tokens=5)
    loop_thread = threading.current_thread().name
    reports: list[BatchReport] = []
    async with running(workers, reports, lambda: light[0], max_wait=0) as batcher:
        await batcher.submit([sentence(1)])  # other requests are in progress
        light[0] = True  # its request is the only one
        assert await batcher.submit([sentence(2), sentence(3)]) == [
            Prediction(stub_tags(s), [0.5] * len(s)) for s in (sentence(2), sentence(3))
        ]
        assert copy.threads == [loop_thread] and copy.batches == [[sentence(2), sentence(3)]]
        await batcher.submit([sentence(6)])  # 6 tokens: too many for the copy
        assert len(stub.batches) == 2 and loop_thread not in stub.threads
        stub.gate.clear()  # a batch is out: the next small one goes to a backend too
        out = asyncio.create_task(batcher.submit([sentence(20)]))
        await wait_until(lambda: len(stub.batches) == 3)
        small = asyncio.create_task(batcher.submit([sentence(1)]))
        await wait_until(lambda: len(stub.batches) == 4)
        stub.gate.set()
        await asyncio.gather(out, small)
    assert len(copy.batches) == 1
    assert [r.in_server for r in reports] == [False, True, False, False, False]  # as counted


@pytest.mark.anyio
async def test_without_a_copy_every_batch_goes_to_a_backend(stub: StubTagger) -> None:
    reports: list[BatchReport] = []
    async with running(workers_of(stub, copy_tokens=5), reports, lambda: True) as batcher:
        assert len(await batcher.submit([sentence(1)])) == 1
    assert stub.threads[0] != threading.current_thread().name
    assert [r.in_server for r in reports] == [False]


# Deciding-word calls


@pytest.mark.anyio
async def test_a_deciding_call_waits_for_a_free_backend_and_runs_in_a_worker_thread() -> None:
    model = _Asked()
    labels = [["B-PER", "O"]]
    async with running(model, max_batch_size=1, max_wait=0) as batcher:
        model.gate.clear()  # the next batch stays in the model
        tagging = asyncio.create_task(batcher.submit([["Mary"]]))
        await wait_until(lambda: model.batches)
        asking = asyncio.create_task(batcher.workers.probabilities_of([["Mary", "left"]], labels))
        await asyncio.sleep(0.05)
        assert not asking.done() and model.asked == []  # its only backend is busy
        model.gate.set()
        async with asyncio.timeout(10):
            assert await asking == [Prediction(["B-PER", "O"], [0.5, 0.5])]
            await tagging
    assert model.asked == [(model.threads[0], True)]


@pytest.mark.anyio
async def test_a_deciding_call_goes_to_a_free_backend_whatever_waits() -> None:
    busy, free = _Asked(), _Asked()
    workers = workers_of(free, busy, spill_tokens=1000)
    async with running(workers, max_batch_size=1, max_wait=0) as batcher:
        busy.gate.clear()
        tagging = asyncio.create_task(batcher.submit([["Mary"]]))  # to busy, freed last
        await wait_until(lambda: busy.batches)
        async with asyncio.timeout(10):  # no token rule for deciding calls
            answer = await workers.probabilities_of([["Oslo"]], [["B-LOC"]])
        assert answer == [Prediction(["B-PER"], [0.5])] and len(free.asked) == 1
        busy.gate.set()
        await tagging
    assert busy.asked == []


@pytest.mark.anyio
async def test_a_failing_deciding_call_raises_batch_failed_and_frees_its_backend() -> None:
    model = _Asked()
    async with running(model) as batcher:
        model.fail_next = RuntimeError("CUDA out of memory")
        with pytest.raises(BatchFailed, match="CUDA out of memory") as failed:
            await batcher.workers.probabilities_of([["Oslo"]], [["B-LOC"]])
        assert isinstance(failed.value.__cause__, RuntimeError)
        async with asyncio.timeout(10):  # its backend is free again
            assert len(await batcher.workers.probabilities_of([["Oslo"]], [["O"]])) == 1
            assert len(await batcher.submit([["Oslo"]])) == 1


@pytest.mark.anyio
async def test_a_deciding_answer_that_does_not_fit_is_a_batch_failure() -> None:
    model = _Asked()
    model.drop = True
    async with running(model) as batcher:
        with pytest.raises(BatchFailed) as failed:
            await batcher.workers.probabilities_of([["Oslo"], ["Mary"]], [["O"], ["O"]])
    assert isinstance(failed.value.__cause__, BatchMismatch)


# Restarts, retiring, closing and being alive reach every backend


class _Member(InProcessBackend):
    retired = closed = False
    up = True

    @property
    def alive(self) -> bool:
        return self.up

    def retire(self) -> None:
        self.retired = True

    def close(self) -> None:
        self.closed = True


def test_restarts_retiring_closing_and_liveness_reach_every_backend() -> None:
    members = [_Member(StubTagger()), _Member(StubTagger())]
    copy = _Member(StubTagger())
    workers = Workers(members, copy=copy, copy_tokens=8)
    restarted: list[int] = []
    workers.on_restart = lambda: restarted.append(1)
    for member in members:
        assert member.on_restart is not None
        member.on_restart()
    assert restarted == [1, 1]
    assert workers.alive
    members[1].up = False
    assert workers.alive  # one can still take a batch
    members[0].up = False
    assert not workers.alive
    workers.retire()
    assert all(m.retired for m in members)
    close(workers)
    assert all(m.closed for m in [*members, copy])


class _Down(InProcessBackend):
    """A model process that died and whose replacement cannot start: it fails at once."""

    @property
    def alive(self) -> bool:
        return False

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        raise ModelProcessError("the model process died and a new one failed to start")


@pytest.mark.anyio
async def test_batches_go_to_a_live_backend_while_another_is_down(stub: StubTagger) -> None:
    workers = Workers([InProcessBackend(stub), _Down(StubTagger())])
    assert workers.alive  # ready: one backend can take batches
    async with running(workers, max_batch_size=1, max_wait=0) as batcher:
        for _ in range(3):
            async with asyncio.timeout(10):
                assert len(await batcher.submit([["Oslo"]])) == 1
    assert len(stub.batches) == 3
