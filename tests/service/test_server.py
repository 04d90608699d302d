"""The real thing: ``bigru-ner serve`` in its own process, over HTTP on loopback."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.support import metric

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def server(tiny_model: Path) -> Iterator[tuple[str, subprocess.Popen[str], queue.Queue[str]]]:
    """``bigru-ner serve`` on a free loopback port; yields its URL, process and log lines."""
    env = {**os.environ, "NER_MAX_WAIT_MS": "1", "NER_LOG_LEVEL": "info"}
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
        + ["--model", str(tiny_model), "--device", "cpu"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    stream = process.stderr
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if found := re.search(r"running on (http://127\.0\.0\.1:\d+)", line):
                url = found.group(1)
        yield url, process, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serves_the_model_over_loopback(
    server: tuple[str, subprocess.Popen[str], queue.Queue[str]],
) -> None:
    url, process, lines = server
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/readyz").status_code == 200
        tagged = client.post("/v1/tag", json={"text": "Mary Rossi visited Oslo ."})
        refused = client.post("/v1/tag", content=b"text=Mary")  # a form, as curl -d sends
        metrics = client.get("/metrics").text
    assert tagged.status_code == 200
    body = tagged.json()
    assert body["model"] == "model" and body["device"] == "cpu"
    entities = [
        (e["label"], e["text"], e["start"], e["end"]) for e in body["results"][0]["entities"]
    ]
    assert entities == [("PER", "Mary Rossi", 0, 10), ("LOC", "Oslo", 19, 23)]
    assert refused.status_code == 415
    assert metric(metrics, "ner_requests_total", endpoint="/v1/tag", status="200") == 1
    assert metric(metrics, "ner_tokens_total") == 5

    process.send_signal(signal.SIGTERM)  # what an orchestrator sends: shut down cleanly
    assert process.wait(timeout=60) == 0  # drained, then a clean exit
    log = "".join(lines.get() for _ in range(lines.qsize()))
    assert "Application shutdown complete" in log
