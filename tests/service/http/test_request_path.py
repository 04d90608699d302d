"""What one ``POST /v1/tag`` request crosses: at most 10 of the project's files run code for
it in the server process (the architecture note, docs/architecture.md, names them)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from service.core.loading import close, load_workers
from service.http.app import create_app
from service.runs import model_runs
from tests.service.support import settings, uvicorn_thread

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = (ROOT / "model", ROOT / "service")


@contextmanager
def files_running() -> Iterator[tuple[threading.Event, set[str]]]:
    """Record the project files whose functions run in any thread started from here on (and
    this one) while the yielded event is set."""
    recording = threading.Event()
    files: set[str] = set()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and recording.is_set():
            files.add(frame.f_code.co_filename)

    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        yield recording, files
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]


def project_files(files: set[str]) -> list[str]:
    """Those of ``files`` under model/ and service/, relative to the repository."""
    paths = [Path(f).resolve() for f in files]
    inside = [p for p in paths if any(p.is_relative_to(package) for package in PACKAGES)]
    return sorted(str(p.relative_to(ROOT)) for p in inside)


def test_a_tag_request_crosses_at_most_ten_files(tiny_model: Path) -> None:
    # The default backend on two CPUs, started as `bigru-ner serve` starts it: two model
    # processes (not profiled: not the server), without the copy of the model in the server
    # that tags under light load only.
    spec = model_runs(settings(model=tiny_model, device="cpu", model_workers=2))[0]
    workers = load_workers(spec)
    try:
        app = create_app(settings(model=tiny_model, device="cpu", model_workers=2), workers)
        with files_running() as (recording, files), uvicorn_thread(app) as url:
            with httpx.Client(base_url=url, timeout=60) as client:
                client.post("/v1/tag", json={"text": "Warm up."})  # first-call imports
                recording.set()
                # Two sentences: a batch of several is cut into calls of similar length too.
                text = "Mary Rossi visited Oslo. She met Paul Berg at the harbour."
                response = client.post("/v1/tag", json={"text": text})
                recording.clear()
    finally:
        close(workers)
    assert response.status_code == 200
    crossed = project_files(files)
    assert "service/core/process.py" in crossed  # the model was called, in its child
    assert "service/core/workers.py" in crossed  # the one place that hands out batches
    assert "service/http/routes/tag.py" in crossed  # the one handler of /v1/tag
    assert len(crossed) <= 10, f"{len(crossed)} files: {crossed}"
