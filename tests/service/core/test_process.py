"""The model in a child process: same answers as in-process, failures reported, a dead child
replaced, clean exit."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from model.artifact import ArtifactError
from model.tagger import Tagger
from service.core import child
from service.core import process as model_process
from service.core.process import ChildProcessBackend, ModelProcessError
from service.http.app import create_app
from tests.deploy.support import wait_for
from tests.service.support import metric, serving, settings, uvicorn_thread


def test_a_bad_model_directory_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError):
        ChildProcessBackend.start(tmp_path, "cpu", threads=1)


def test_the_child_runs_at_the_niceness_asked_above_the_server(tiny_model: Path) -> None:
    started = ChildProcessBackend.start(tiny_model, "cpu", threads=1, nice=3)
    try:
        child = started._process.pid
        assert child is not None
        server = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, child) == min(server + 3, 19)
        (prediction,) = started.tag_sentences([["Oslo", "."]])
        assert len(prediction.tags) == 2
    finally:
        started.close()


def test_close_ends_the_child(tiny_model: Path) -> None:
    started = ChildProcessBackend.start(tiny_model, "cpu", threads=1)
    child = started._process
    started.close()
    assert not child.is_alive()
    with pytest.raises(RuntimeError, match="gone"):
        started.tag_sentences([["Oslo"]])


@pytest.mark.anyio
async def test_an_app_that_loads_its_model_runs_it_in_a_process_and_ends_it(
    tiny_model: Path,
) -> None:
    app = create_app(settings(model=tiny_model, device="cpu"))
    async with serving(app) as client:
        tagged = await client.post("/v1/tag", json={"text": "Mary Rossi visited Oslo ."})
        (served,) = app.state.service.serving().workers.backends
        assert isinstance(served, ChildProcessBackend)
    assert tagged.status_code == 200
    assert not served._process.is_alive()


def _same_model_elsewhere(tiny_model: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    return copy


def _kill_child(process: ChildProcessBackend) -> None:
    child = process._process
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    # The backend's watcher thread may reap the child first: its exit status then reaches
    # this thread a moment after join returns (what ChildProcessBackend._ended waits out too).
    wait_for(lambda: child.exitcode is not None, 10, "the killed child's exit status", 0.01)


def test_a_child_that_dies_is_replaced_at_once_and_the_log_says_why_it_ended(
    tiny_model: Path, tiny_tagger: Tagger, caplog: pytest.LogCaptureFixture
) -> None:
    started = ChildProcessBackend.start(tiny_model, "cpu", threads=1)
    replaced = threading.Event()
    started.on_restart = replaced.set
    try:
        first = started._process
        _kill_child(started)
        assert replaced.wait(timeout=120), "no new model process"
        assert started.alive and started._process is not first and started.restarts == 1
        sentences = [["Mary", "Rossi", "visited", "Oslo", "."]]
        assert started.tag_sentences(sentences) == tiny_tagger.tag_sentences(sentences)
    finally:
        started.close()
    assert not started.alive
    assert "the model process was killed by SIGKILL: starting a new one" in caplog.messages


def test_a_retired_child_that_dies_is_not_replaced(
    tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    started = ChildProcessBackend.start(tiny_model, "cpu", threads=1)
    try:
        started.retire()
        assert started.tag_sentences([["Oslo"]])  # a retired child still answers
        _kill_child(started)
        wanted = "the model process was killed by SIGKILL while the server shuts down: not replaced"
        wait_for(lambda: wanted in caplog.messages, 30, "the watcher to give the child up")
        assert not started.alive and started.restarts == 0
        with pytest.raises(ModelProcessError, match="killed by SIGKILL while the server shuts"):
            started.tag_sentences([["Oslo"]])
    finally:
        started.close()


def test_a_batch_sent_to_a_dead_child_is_tagged_by_its_replacement(
    tiny_model: Path, tiny_tagger: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        ChildProcessBackend, "_watch", lambda self: None
    )  # only the call can see it
    started = ChildProcessBackend.start(tiny_model, "cpu", threads=1)
    try:
        _kill_child(started)
        assert not started.alive
        sentences = [["Acme", "Corp", "hired", "Kofi"], ["Oslo"]]
        assert started.tag_sentences(sentences) == tiny_tagger.tag_sentences(sentences)
        assert started.alive and started.restarts == 1
    finally:
        started.close()


def test_a_child_that_cannot_be_replaced_is_retried_until_it_can(
    tiny_model: Path, tmp_path: Path
) -> None:
    model = _same_model_elsewhere(tiny_model, tmp_path)
    started = ChildProcessBackend.start(model, "cpu", threads=1)
    try:
        (model / "config.json").rename(tmp_path / "config.json")
        _kill_child(started)
        with pytest.raises(ModelProcessError, match="failed to start"):
            started.tag_sentences([["Oslo"]])
        assert not started.alive and started.restarts == 0
        (tmp_path / "config.json").rename(model / "config.json")
        wait_for(lambda: started.alive, 120, "a new model process", 0.05)
        assert started.restarts == 1
        (prediction,) = started.tag_sentences([["Oslo"]])
        assert len(prediction.tags) == 1
    finally:
        started.close()


def test_after_a_failed_start_batches_fail_at_once_and_leave_retrying_to_the_watcher(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        ChildProcessBackend, "_watch", lambda self: None
    )  # only the calls can start
    launches = []
    launch = child.launch

    def counted(spec: Any) -> Any:
        launches.append(spec)
        return launch(spec)

    monkeypatch.setattr(model_process, "launch", counted)
    model = _same_model_elsewhere(tiny_model, tmp_path)
    started = ChildProcessBackend.start(model, "cpu", threads=1)
    try:
        (model / "config.json").unlink()
        _kill_child(started)
        for _ in range(3):
            with pytest.raises(ModelProcessError, match="failed to start"):
                started.tag_sentences([["Oslo"]])
        assert len(launches) == 2  # the start, and one try after the child died
    finally:
        started.close()


def test_the_service_is_unready_while_its_model_is_down_and_recovers(
    tiny_model: Path, tmp_path: Path
) -> None:
    model = _same_model_elsewhere(tiny_model, tmp_path)
    app = create_app(settings(model=model, device="cpu"))
    body = {"text": "Mary Rossi visited Oslo ."}
    with uvicorn_thread(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        assert client.post("/v1/tag", json=body).status_code == 200
        (model / "config.json").rename(tmp_path / "config.json")
        (backend,) = app.state.service.serving().workers.backends
        _kill_child(backend)
        wait_for(lambda: client.get("/readyz").status_code == 503, 120, "readyz 503", 0.05)
        refused = client.post("/v1/tag", json=body)
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        assert refused.json()["error"]["code"] == "not_ready"
        (tmp_path / "config.json").rename(model / "config.json")
        wait_for(lambda: client.get("/readyz").status_code == 200, 120, "readyz 200", 0.05)
        tagged = client.post("/v1/tag", json=body)
        exposed = client.get("/metrics").text
    assert tagged.status_code == 200 and tagged.json()["results"][0]["entities"]
    assert metric(exposed, "ner_model_restarts_total") == 1
