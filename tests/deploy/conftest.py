"""Fixtures of the deployment tests: the bundled model served on loopback, under load."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.deploy.support import free_port, serving

#: Settings that let a burst of requests overflow the queue, so that 503 and refusals show.
SERVICE_ENV = {
    "NER_DEVICE": "cpu",
    "NER_TORCH_THREADS": "1",
    "NER_MAX_QUEUE": "4",
    "NER_MAX_BATCH_SIZE": "2",
    "NER_MAX_WAIT_MS": "20",
}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m model.cli serve`` with the bundled model on a free loopback port; its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NER_")} | SERVICE_ENV
    argv = [sys.executable, "-m", "model.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = tmp_path_factory.mktemp("service") / "service.log"
    url = f"http://127.0.0.1:{port}"
    with serving(argv, env, log, url + "/readyz", timeout=180, what="the service's /readyz"):
        yield url


def metric_names(exposition: str) -> set[str]:
    """Names of the samples in a Prometheus text exposition."""
    return set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", exposition, re.M))


@pytest.fixture(scope="module")
def live_metrics(service: str) -> str:
    """/metrics of the service after it has tagged something."""
    text = {"text": "Jordan met Egypt's envoy ."}
    tagged = httpx.post(service + "/v1/tag", json=text, timeout=30)
    assert tagged.status_code == 200
    return httpx.get(service + "/metrics", timeout=10).text
