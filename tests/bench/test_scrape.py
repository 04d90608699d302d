"""Reading the service's metrics page: what a histogram observed between two scrapes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from bench.scrape import change, histogram_ms, samples


def test_percentiles_of_what_came_between_two_pages() -> None:
    registry = CollectorRegistry()
    seconds = Histogram(
        "ner_request_duration_seconds",
        "",
        ["status"],
        buckets=[0.001, 0.01, 0.1],
        registry=registry,
    )
    for _ in range(50):
        seconds.labels(status="200").observe(0.05)  # before: not counted
    before = samples(generate_latest(registry).decode())
    for value in [0.0005] * 90 + [0.005] * 9 + [0.05]:
        seconds.labels(status="503").observe(value)
    seconds.labels(status="200").observe(0.005)
    after = samples(generate_latest(registry).decode())
    name = "ner_request_duration_seconds"
    assert histogram_ms(before, after, name, 0.5, status="503") == 1.0
    assert histogram_ms(before, after, name, 0.99, status="503") == 10.0
    assert histogram_ms(before, after, name, 1.0, status="503") == 100.0
    assert histogram_ms(before, after, name, 0.5, status="200") == 10.0
    assert histogram_ms(before, after, name, 0.5, status="429") is None
    assert change(before, after, f"{name}_count") == 101
