"""Fixtures of the deployment tests: the bundled model served on loopback, under load."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.deploy.support import bigru_ner_serve

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
    """``python -m service.cli serve`` with the bundled models on a free loopback port; its URL."""
    with bigru_ner_serve(SERVICE_ENV, tmp_path_factory.mktemp("service") / "service.log") as url:
        yield url


@pytest.fixture(scope="module")
def live_metrics(service: str) -> str:
    """/metrics of the service after it has tagged something."""
    text = {"text": "Jordan met Egypt's envoy ."}
    tagged = httpx.post(service + "/v1/tag", json=text, timeout=30)
    assert tagged.status_code == 200
    return httpx.get(service + "/metrics", timeout=10).text
