"""The device check's reading of a metrics page, on pages made by the service's own metrics."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import generate_latest

from bench.device_check import metric_checks
from service.metrics import Metrics


@dataclass
class Batch:
    """A batch as ``Metrics.observe_batch`` records it: sentences, tokens, model seconds, each
    sentence's queue wait, and whether the copy in the server tagged it."""

    size: int
    tokens: int
    compute_seconds: float
    queue_waits: list[float]
    in_server: bool


BATCHES = [Batch(3, 30, 0.004, [0.001] * 3, False), Batch(1, 9, 0.002, [0.0], True)]


def _page(device: str, batches: list[Batch], unmeasured: int = 0) -> str:
    metrics = Metrics()
    metrics.serving("bigru-conll03", None, device, True)
    metrics.watch_queues(lambda: 0)
    for batch in batches:
        metrics.observe_batch(batch)
    for _ in range(unmeasured):  # a batch counted without its model time
        metrics.batch_size.observe(1)
    return generate_latest(metrics.registry).decode()


def _failed(checks: list[dict[str, object]]) -> list[object]:
    return [c["check"] for c in checks if not c["ok"]]


def test_batches_on_the_device_pass() -> None:
    checks = metric_checks(_page("cuda:0", BATCHES), "cuda:0", p99_seconds=0.05)
    assert len(checks) == 6
    assert _failed(checks) == []
    assert checks[0]["detail"] == "2 batches"


def test_batches_on_another_device_fail() -> None:
    failed = _failed(metric_checks(_page("cpu", BATCHES), "cuda:0", p99_seconds=0.05))
    assert 'model time counted under device="cuda:0"' in failed
    assert "no model time under another device" in failed
    assert 'ner_model_info names device="cuda:0"' in failed


def test_model_time_longer_than_the_requests_fails() -> None:
    failed = _failed(metric_checks(_page("cuda:0", BATCHES), "cuda:0", p99_seconds=0.001))
    assert failed == ["mean model time a batch above 0 and below the clients' p99"]


def test_a_batch_without_model_time_fails() -> None:
    failed = _failed(metric_checks(_page("cuda:0", BATCHES, unmeasured=1), "cuda:0", 0.05))
    assert "every batch counted once" in failed


def test_no_batches_fail() -> None:
    failed = _failed(metric_checks(_page("cuda:0", []), "cuda:0", p99_seconds=0.05))
    assert 'model time counted under device="cuda:0"' in failed
    assert "one queue wait per sentence tagged" in failed
