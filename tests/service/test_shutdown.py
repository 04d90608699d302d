"""Graceful shutdown of a real ``bigru-ner serve`` process under concurrent clients: on
SIGTERM it turns unready and refuses new work, answers everything it accepted, and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.deploy.support import answers, free_port, serving, wait_for
from tests.service.support import metric

TEXTS = [f"Mary Rossi{i} visited Oslo . It rained in Lima ." for i in range(20)]


def _outcome(url: str, text: str) -> str:
    """What became of one request: its status, or the kind of transport error."""
    try:
        response = httpx.post(url + "/v1/tag", json={"text": text}, timeout=60)
    except httpx.ConnectError:
        return "refused connection"
    except httpx.RemoteProtocolError as error:
        # A connection made as the server closed its socket: uvicorn closes connections that
        # have no request in progress, so this request was never read (never accepted).
        if "without sending a response" in str(error):
            return "closed unread"
        return f"lost: {error}"
    except httpx.ReadError:
        # Reset while waiting for the answer: the connection sat in the listen backlog as
        # the server closed its socket, so it was never read either (an accepted request that
        # lost its answer would be missing from the 200s below).
        return "closed unread"
    except httpx.TransportError as error:
        return f"lost: {type(error).__name__}"
    if response.status_code == 200:
        (result,) = response.json()["results"]
        complete = [t["text"] for t in result["tokens"]] == text.split()
        return "200" if complete else f"incomplete: {response.text}"
    return f"{response.status_code} {response.json()['error']['code']}"


def _keep_posting(url: str, outcomes: Counter[str], stop: threading.Event) -> None:
    """A client that arrives during shutdown and keeps trying until the port is closed."""
    while not stop.is_set():
        outcome = _outcome(url, "Olga came late .")
        outcomes[outcome] += 1
        if outcome == "refused connection":
            return


def test_sigterm_finishes_accepted_requests_refuses_new_ones_and_exits_0(
    tiny_model: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NER_")} | {
        # One batch that waits 3 s for company: the accepted requests are still in it when
        # the signal comes.
        "NER_MAX_WAIT_MS": "3000",
        "NER_MAX_BATCH_SIZE": "256",
        "NER_SHUTDOWN_GRACE_S": "60",
    }
    argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port)]
    argv += ["--model", str(tiny_model), "--device", "cpu"]
    late: Counter[str] = Counter()
    stop = threading.Event()
    with serving(argv, env, tmp_path / "serve.log", url + "/readyz", 120, "/readyz") as process:
        with ThreadPoolExecutor(len(TEXTS) + 4) as pool:
            accepted = [pool.submit(_outcome, url, text) for text in TEXTS]

            def inflight() -> float:
                return metric(httpx.get(url + "/metrics").text, "ner_inflight_requests")

            wait_for(lambda: inflight() == len(TEXTS), 30, "the requests to be in flight", 0.02)
            process.send_signal(signal.SIGTERM)
            wait_for(lambda: httpx.get(url + "/readyz").status_code == 503, 5, "503", 0.01)
            refused = _outcome(url, "Too late .")
            assert not any(f.done() for f in accepted), "the drain did not wait for them"
            for _ in range(4):
                pool.submit(_keep_posting, url, late, stop)
            outcomes = Counter(f.result(timeout=60) for f in accepted)
            exit_code = process.wait(timeout=60)
            stop.set()
    assert outcomes == Counter({"200": len(TEXTS)})  # every accepted request, answered in full
    assert refused == "503 not_ready"
    assert set(late) <= {"503 not_ready", "refused connection", "closed unread"}, late
    assert late["503 not_ready"] > 0  # the port stayed open, refusing work, while it drained
    assert exit_code == 0, (tmp_path / "serve.log").read_text()[-3000:]
    log = (tmp_path / "serve.log").read_text()
    assert "draining 20 requests" in log and "Application shutdown complete" in log


def test_a_stop_signal_to_the_process_group_leaves_the_model_processes_to_the_server(
    tiny_model: Path, tmp_path: Path
) -> None:
    """Ctrl+C or `kill -TERM -PGID` reaches the model processes too: they must keep answering
    the drained requests, and none may be replaced while the server shuts down."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NER_")} | {
        "NER_MAX_WAIT_MS": "2000",  # the requests are still queued when the signal comes
        "NER_MAX_BATCH_SIZE": "256",
    }
    argv = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
    argv += ["--port", str(port)]
    argv += ["--model", str(tiny_model), "--device", "cpu"]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        # Its own process group, as a shell gives `make serve`: the signal goes to all of it.
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        wait_for(lambda: process.poll() is not None or answers(url + "/readyz"), 120, "/readyz")
        with ThreadPoolExecutor(len(TEXTS)) as pool:
            accepted = [pool.submit(_outcome, url, text) for text in TEXTS]

            def inflight() -> float:
                return metric(httpx.get(url + "/metrics").text, "ner_inflight_requests")

            wait_for(lambda: inflight() == len(TEXTS), 30, "the requests to be in flight", 0.02)
            os.killpg(process.pid, signal.SIGTERM)
            outcomes = Counter(f.result(timeout=60) for f in accepted)
        exit_code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = log.read_text()
    assert outcomes == Counter({"200": len(TEXTS)}), text[-3000:]
    assert exit_code == 0, text[-3000:]
    assert "Application shutdown complete" in text
    # No model process died under the signal, so none was (or had to be) replaced.
    assert "model process" not in text, text[-3000:]
    # Nothing of the group outlives the server: no model process started during shutdown.
    wait_for(lambda: not _group_alive(process.pid), 15, "the process group to be gone")


def _group_alive(pgid: int) -> bool:
    """Whether any process is left in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
