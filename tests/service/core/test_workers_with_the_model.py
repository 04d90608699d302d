"""Workers over the tiny model: model processes side by side and the copy in the server
answer as the model does, a dead model process is replaced while the others answer, and
services with and without each answer alike and end their processes."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path

import pytest

from model.tagger import Tagger
from service.core.backend import InProcessBackend
from service.core.loading import close, load_workers
from service.core.process import ChildProcessBackend
from service.http.app import create_app
from service.runs import model_runs
from tests.service.core.batchers import running
from tests.service.core.test_process import _kill_child
from tests.service.support import metric, serving, settings

SENTENCES = [["Mary", "Rossi", "visited", "Oslo", "."], ["Acme", "Corp", "hired", "Kofi"]]


def test_the_copy_in_the_server_answers_as_the_model_processes_do(
    tiny_model: Path, tiny_tagger: Tagger
) -> None:
    spec = model_runs(settings(model=tiny_model, device="cpu", model_in_server_tokens=6))
    workers = load_workers(spec[0])
    try:
        assert workers.copy_tokens == 6 and workers.size == 1
        (member,) = workers.backends
        assert isinstance(member, ChildProcessBackend)
        assert isinstance(workers.copy, InProcessBackend)
        expected = tiny_tagger.tag_sentences(SENTENCES)
        assert workers.copy.tag_sentences(SENTENCES) == member.tag_sentences(SENTENCES) == expected
        process = member._process
    finally:
        close(workers)
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


@pytest.mark.anyio
async def test_model_processes_side_by_side_answer_as_the_model_does(
    tiny_model: Path, tiny_tagger: Tagger
) -> None:
    workers = load_workers(model_runs(settings(model=tiny_model, device="cpu", model_workers=2))[0])
    try:
        assert workers.size == 2 and workers.copy is None
        assert all(isinstance(b, ChildProcessBackend) for b in workers.backends)
        workers.start()
        first, second = await workers.take(), await workers.take()
        async with asyncio.timeout(60):
            answers = await asyncio.gather(
                workers.tag(first, SENTENCES), workers.tag(second, SENTENCES)
            )
        expected = tiny_tagger.tag_sentences(SENTENCES)
        assert answers[0][0] == answers[1][0] == expected
        assert not answers[0][2] and not answers[1][2]  # not the copy's
        assert workers.alive
        workers.stop()
    finally:
        close(workers)
    assert not workers.alive


@pytest.mark.anyio
async def test_a_dead_model_process_is_replaced_while_the_others_answer(
    tiny_model: Path, tiny_tagger: Tagger, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    workers = load_workers(model_runs(settings(model=model, device="cpu", model_workers=2))[0])
    replaced = threading.Event()
    workers.on_restart = replaced.set
    dead, other = workers.backends  # the one freed last (other) takes lone batches
    try:
        (model / "config.json").rename(tmp_path / "config.json")  # no new one can start
        assert isinstance(dead, ChildProcessBackend)
        _kill_child(dead)
        assert not dead.alive and workers.alive
        async with running(workers, max_batch_size=8, max_wait=0) as batcher:
            for _ in range(3):
                async with asyncio.timeout(30):
                    answer = await batcher.submit(SENTENCES)
                assert answer == tiny_tagger.tag_sentences(SENTENCES)
            assert not dead.alive and not replaced.is_set()
            (tmp_path / "config.json").rename(model / "config.json")
            assert await asyncio.to_thread(replaced.wait, 120), "no new model process"
            assert dead.alive and dead.restarts == 1
            assert dead.tag_sentences(SENTENCES) == tiny_tagger.tag_sentences(SENTENCES)
    finally:
        close(workers)
    assert not workers.alive


@pytest.mark.anyio
async def test_a_service_with_two_model_workers_runs_two_processes_and_ends_them(
    tiny_model: Path,
) -> None:
    texts = [{"text": f"Mary Rossi visited Oslo {i} times ."} for i in range(24)]
    answers = {}
    for count in (1, 2):
        app = create_app(settings(model=tiny_model, device="cpu", model_workers=count))
        async with serving(app) as client:
            workers = app.state.service.serving().workers
            replies = await asyncio.gather(*(client.post("/v1/tag", json=t) for t in texts))
        answers[count] = [(r.status_code, r.json()["results"]) for r in replies]
    assert workers.size == 2
    children = [b._process for b in workers.backends]
    assert len({c.pid for c in children}) == 2 and not any(c.is_alive() for c in children)
    assert answers[2] == answers[1]
