"""Service test helpers: a recording stub tagger, a lifespan-run client, metric reading."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import torch
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from model.pipeline import Prediction
from service.settings import Settings
from service.tuning import Tuning


def stub_tags(tokens: Sequence[str]) -> list[str]:
    """Capitalized runs are PER entities: what the stub tagger predicts."""
    tags = []
    for i, token in enumerate(tokens):
        if token[:1].isupper():
            tags.append("I-PER" if i and tokens[i - 1][:1].isupper() else "B-PER")
        else:
            tags.append("O")
    return tags


class StubTagger:
    """A tagger without a network: records each batch it gets, and can be held or made to fail.

    ``gate.clear()`` holds every batch inside the model until ``gate.set()``.
    """

    name = "stub"
    labels = ["PER"]
    bidirectional = True
    device = torch.device("cpu")

    def __init__(self) -> None:
        self.model = SimpleNamespace(network=torch.nn.Linear(4, 2))  # 10 weights
        self.batches: list[list[list[str]]] = []
        self.inference_mode: list[bool] = []
        self.threads: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_next: Exception | None = None

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        self.batches.append([list(s) for s in sentences])
        self.inference_mode.append(torch.is_inference_mode_enabled())
        self.threads.append(threading.current_thread().name)
        if not self.gate.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        return [Prediction(stub_tags(s), [0.5] * len(s)) for s in sentences]

    def probabilities_of(
        self, sentences: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]
    ) -> list[Prediction]:
        """Its tags of each token list, and 0.5 for whatever label is asked."""
        return [Prediction(stub_tags(s), [0.5] * len(s)) for s in sentences]


def settings(**values: Any) -> Settings:
    """Settings for tests, public and tuning ones alike: short waits, no forward model (no
    comparison), one model process and no copy of the model in the server unless asked."""
    tuning = {k: values.pop(k) for k in list(values) if k in Tuning.model_fields}
    tuning.setdefault("max_wait_ms", 2)
    tuning.setdefault("model_in_server_tokens", 0)
    values.setdefault("forward_model", None)
    values.setdefault("model_workers", 1)
    return Settings(**values, tuning=Tuning(**tuning))


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (start-up, then shutdown on exit) around an in-process client."""
    async with app.router.lifespan_context(app):
        async with client_for(app) as client:
            yield client


def client_for(app: FastAPI) -> httpx.AsyncClient:
    """An httpx client calling the app in-process, without running its lifespan."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll ``condition`` on the event loop until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text; 0 when the series does not exist yet."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def total(text: str, name: str) -> float:
    """The sum of a metric's samples over all their labels in Prometheus text."""
    return sum(
        float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


@contextmanager
def uvicorn_thread(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on a free loopback port, in a thread of this process
    (so that a test can still hold its stub's gate); yields the base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
