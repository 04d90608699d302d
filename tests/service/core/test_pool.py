"""Several model processes for one model: batches computed side by side, only when enough
waits, every member's answers the model's own, and each member closed with the pool."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from model.tagger import Tagger
from service.core.backend import InProcessBackend, TagsAndScores
from service.core.batching import Batcher
from service.core.models import load_backend
from service.core.pending import BatchReport, InLoop
from service.core.pool import BackendPool
from service.core.process import ChildProcessBackend
from service.http.app import create_app
from service.settings import IN_SERVER_TOKENS, load_settings, usable_cpus
from tests.service.core.batchers import running, sentence
from tests.service.support import StubTagger, metric, serving, settings, wait_until


class _Meeting(StubTagger):
    """A stub whose batches each wait until ``parties`` batches are inside it at once."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=10)

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> TagsAndScores:
        self.barrier.wait()  # raises BrokenBarrierError unless the others come in meanwhile
        return super().tag_sentences(sentences)


@pytest.mark.anyio
async def test_two_workers_compute_two_batches_at_once() -> None:
    stub = _Meeting(2)
    async with running(stub, max_batch_size=1, max_wait=0, concurrency=2) as batcher:
        async with asyncio.timeout(20):
            first, second = await asyncio.gather(
                batcher.submit([sentence(3)]), batcher.submit([sentence(4)])
            )
    assert [len(p.tags) for p in first + second] == [3, 4]
    assert len(set(stub.threads)) == 2


@pytest.mark.anyio
async def test_one_worker_never_computes_two_batches_at_once() -> None:
    stub = _Meeting(2)
    stub.barrier = threading.Barrier(2, timeout=0.5)
    async with running(stub, max_batch_size=1, max_wait=0) as batcher:
        outcomes = await asyncio.gather(
            batcher.submit([sentence(3)]), batcher.submit([sentence(4)]), return_exceptions=True
        )
    assert all(isinstance(outcome, Exception) for outcome in outcomes)


@pytest.mark.anyio
async def test_a_second_batch_waits_until_enough_tokens_wait(stub: StubTagger) -> None:
    stub.gate.clear()  # the first batch stays in the model
    async with running(stub, max_wait=0, concurrency=2, spill_tokens=10) as batcher:
        first = asyncio.create_task(batcher.submit([sentence(2)]))
        await wait_until(lambda: len(stub.batches) == 1)
        few = asyncio.create_task(batcher.submit([sentence(3)]))
        await asyncio.sleep(0.2)
        assert len(stub.batches) == 1, "3 tokens went to the second worker"
        more = asyncio.create_task(batcher.submit([sentence(7, "x")]))
        await wait_until(lambda: len(stub.batches) == 2)
        assert stub.batches[1] == [sentence(3), sentence(7, "x")]
        stub.gate.set()
        await asyncio.gather(first, few, more)


@pytest.mark.anyio
async def test_the_tokens_of_a_caller_that_left_no_longer_count(stub: StubTagger) -> None:
    stub.gate.clear()
    async with running(stub, max_wait=0, concurrency=2, spill_tokens=10) as batcher:
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
    async with running(stub, max_wait=0, concurrency=2, spill_tokens=100) as batcher:
        first = asyncio.create_task(batcher.submit([sentence(2)]))
        await wait_until(lambda: len(stub.batches) == 1)
        second = asyncio.create_task(batcher.submit([sentence(3)]))
        third = asyncio.create_task(batcher.submit([sentence(1)]))
        await asyncio.sleep(0.1)
        stub.gate.set()
        async with asyncio.timeout(10):
            await asyncio.gather(first, second, third)
    assert [len(b) for b in stub.batches] == [1, 2]


@pytest.mark.anyio
async def test_a_batcher_of_several_workers_hands_a_batch_to_the_one_freed_last() -> None:
    stubs = [StubTagger(), StubTagger()]
    batcher = Batcher(
        [s.tag_sentences for s in stubs],
        max_batch_size=1,
        max_batch_tokens=100,
        max_wait=0,
        max_queue=10,
    )
    assert batcher.concurrency == 2
    await batcher.start()
    try:
        for n in range(1, 4):  # one at a time: the same worker each time
            await batcher.submit([sentence(n)])
        assert sorted(len(s.batches) for s in stubs) == [0, 3]
        busy = next(s for s in stubs if s.batches)
        busy.gate.clear()  # held: the next batch goes to the other worker
        held = asyncio.create_task(batcher.submit([sentence(4)]))
        await wait_until(lambda: len(busy.batches) == 4)
        await batcher.submit([sentence(5)])
        assert [len(s.batches) for s in stubs if s is not busy] == [1]
        busy.gate.set()
        await held
    finally:
        await batcher.stop()


def test_the_pool_hands_each_call_a_member_of_its_own_and_reuses_the_last_one() -> None:
    stubs = [_Meeting(2), _Meeting(2)]
    stubs[1].barrier = stubs[0].barrier  # two calls meet only if they run at once
    pool = BackendPool([InProcessBackend(s) for s in stubs])
    calls = [threading.Thread(target=pool.tag_sentences, args=([sentence(2)],)) for _ in "ab"]
    for call in calls:
        call.start()
    for call in calls:
        call.join()
    assert [len(s.batches) for s in stubs] == [1, 1]  # both met at the barrier
    for stub in stubs:
        stub.barrier = threading.Barrier(1)
    for _ in range(3):
        pool.tag_sentences([sentence(1)])
    assert sorted(len(s.batches) for s in stubs) == [1, 4]


def test_restarts_retiring_and_closing_reach_every_member() -> None:
    class Member(InProcessBackend):
        retired = closed = False

        def retire(self) -> None:
            self.retired = True

        def close(self) -> None:
            self.closed = True

    members = [Member(StubTagger()), Member(StubTagger())]
    pool = BackendPool(members)
    restarted: list[int] = []
    pool.on_restart = lambda: restarted.append(1)
    for member in members:
        assert member.on_restart is not None
        member.on_restart()
    assert restarted == [1, 1]
    pool.retire()
    pool.close()
    assert all(m.retired and m.closed for m in members)


def test_a_pool_that_cannot_start_closes_the_members_that_did() -> None:
    started: list[InProcessBackend] = []
    closed: list[InProcessBackend] = []
    lock = threading.Lock()

    def start() -> InProcessBackend:
        with lock:
            if started:
                raise RuntimeError("no room for a second one")
            member = InProcessBackend(StubTagger())
            member.close = lambda: closed.append(member)  # type: ignore[method-assign]
            started.append(member)
        return member

    with pytest.raises(RuntimeError, match="no room"):
        BackendPool.start(2, start)
    assert closed == started


@pytest.mark.anyio
async def test_a_lone_small_batch_under_light_load_is_tagged_on_the_event_loop(
    stub: StubTagger,
) -> None:
    copy, light = StubTagger(), [True]
    in_loop = InLoop(copy.tag_sentences, 5, lambda: light[0])
    loop_thread = threading.current_thread().name
    reports: list[BatchReport] = []
    async with running(stub, reports, max_wait=0, concurrency=2, in_loop=in_loop) as batcher:
        await batcher.submit([sentence(2), sentence(3)])  # 5 tokens: small enough
        assert copy.threads == [loop_thread] and not stub.batches
        await batcher.submit([sentence(6)])  # too many
        light[0] = False  # other requests are in progress
        await batcher.submit([sentence(1)])
        light[0] = True
        assert len(copy.batches) == 1 and len(stub.batches) == 2
        assert loop_thread not in stub.threads
        stub.gate.clear()  # a batch is out: the next small one goes to a worker too
        out = asyncio.create_task(batcher.submit([sentence(20)]))
        await wait_until(lambda: len(stub.batches) == 3)
        small = asyncio.create_task(batcher.submit([sentence(1)]))
        await wait_until(lambda: len(stub.batches) == 4)
        stub.gate.set()
        await asyncio.gather(out, small)
    assert len(copy.batches) == 1
    assert [r.in_loop for r in reports] == [True, False, False, False, False]  # as counted


def test_the_copy_in_the_server_answers_as_the_model_processes_do(
    tiny_model: Path, tiny_tagger: Tagger
) -> None:
    spec = settings(model=tiny_model, device="cpu", model_in_server_tokens=6).model_settings()
    pool = load_backend(spec[0])
    assert isinstance(pool, BackendPool) and len(pool.members) == 1 and pool.in_server_tokens == 6
    sentences = [["Mary", "Rossi", "visited", "Oslo", "."], ["Acme", "Corp", "hired", "Kofi"]]
    try:
        assert pool.in_server is not None
        copy, member = pool.in_server.tag_sentences(sentences), pool.tag_sentences(sentences)
        assert copy == member == tiny_tagger.tag_sentences(sentences)
        process = pool.members[0]._process  # type: ignore[attr-defined]
    finally:
        pool.close()
    assert not process.is_alive()


@pytest.mark.anyio
async def test_a_service_answers_the_same_with_and_without_the_copy_in_the_server(
    tiny_model: Path,
) -> None:
    texts = ["Mary Rossi visited Oslo .", "Acme Corp hired Kofi Annan in Accra last May ."]
    answers, in_server = {}, {}
    for tokens in (0, 8):
        app = create_app(settings(model=tiny_model, device="cpu", model_in_server_tokens=tokens))
        async with serving(app) as client:
            replies = [await client.post("/v1/tag", json={"text": t}) for t in texts]
            exposed = (await client.get("/metrics")).text
        answers[tokens] = [(r.status_code, r.json()["results"]) for r in replies]
        in_server[tokens] = metric(exposed, "ner_in_server_batches_total")
    assert in_server == {0: 0, 8: 1}  # the short text only, and only with a copy
    assert answers[8] == answers[0]


def test_model_processes_in_a_pool_answer_as_the_model_does(
    tiny_model: Path, tiny_tagger: Tagger
) -> None:
    pool = BackendPool.start(2, lambda: ChildProcessBackend.start(tiny_model, "cpu", threads=1))
    sentences = [["Mary", "Rossi", "visited", "Oslo", "."], ["Acme", "Corp", "hired", "Kofi"]]
    answers: list[TagsAndScores] = []
    try:
        calls = [
            threading.Thread(target=lambda: answers.append(pool.tag_sentences(sentences)))
            for _ in range(4)
        ]
        for call in calls:
            call.start()
        for call in calls:
            call.join()
        assert answers == [tiny_tagger.tag_sentences(sentences)] * 4
        assert pool.alive
    finally:
        pool.close()
    assert not pool.alive


@pytest.mark.anyio
async def test_a_service_with_two_model_workers_runs_two_processes_and_ends_them(
    tiny_model: Path,
) -> None:
    texts = [{"text": f"Mary Rossi visited Oslo {i} times ."} for i in range(24)]
    answers = {}
    for workers in (1, 2):
        app = create_app(settings(model=tiny_model, device="cpu", model_workers=workers))
        async with serving(app) as client:
            backend = app.state.service.models["tag"].backend
            replies = await asyncio.gather(*(client.post("/v1/tag", json=t) for t in texts))
        answers[workers] = [(r.status_code, r.json()["results"]) for r in replies]
    assert isinstance(backend, BackendPool) and len(backend.members) == 2
    children = [m._process for m in backend.members]  # type: ignore[attr-defined]
    assert len({c.pid for c in children}) == 2 and not any(c.is_alive() for c in children)
    assert answers[2] == answers[1]


def test_workers_default_to_two_with_two_cpus_and_one_without_a_model_process(
    tiny_model: Path,
) -> None:
    assert settings(model=tiny_model, model_workers=None).workers == min(2, usable_cpus())
    assert settings(model=tiny_model, model_workers=None, model_process=False).workers == 1
    assert settings(model=tiny_model, model_workers=3).workers == 3
    with pytest.raises(ValueError, match="NER_MODEL_WORKERS: more than one model worker needs"):
        load_settings(model=tiny_model, model_workers=2, model_process=False)


def test_the_copy_in_the_server_is_there_by_default_on_the_cpu_only(tiny_model: Path) -> None:
    def tokens(**values: object) -> int:
        return settings(model=tiny_model, model_in_server_tokens=None, **values).in_server_tokens

    assert tokens(device="cpu") == IN_SERVER_TOKENS > 0
    assert tokens(device="cpu", model_process=False) == 0
    assert tokens(device="auto") == (0 if torch.cuda.is_available() else IN_SERVER_TOKENS)
    served = settings(model=tiny_model, model_in_server_tokens=9).model_settings()[0]
    assert served.in_server_tokens == 9
    with pytest.raises(ValueError, match="NER_MODEL_IN_SERVER_TOKENS: a copy of the model in"):
        load_settings(model=tiny_model, model_in_server_tokens=8, model_process=False)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("150000 100000", 1), ("200000 100000", 2), ("50000 100000", 1), ("max 100000", None)],
)
def test_usable_cpus_follow_the_cgroup_quota(
    tmp_path: Path, cpu_max: str, expected: int | None
) -> None:
    quota = tmp_path / "cpu.max"
    quota.write_text(cpu_max + "\n")
    cpus = usable_cpus(tmp_path / "absent")
    assert usable_cpus(quota) == (cpus if expected is None else min(cpus, expected))
