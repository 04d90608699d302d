"""``GET /metrics``: the series move as requests are served, read back in Prometheus format."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.http.app import create_app
from tests.service.support import StubTagger, metric, serving, settings, wait_until

pytestmark = pytest.mark.anyio


async def test_series_count_what_was_served(stub: StubTagger) -> None:
    app = create_app(settings(max_batch_size=2), stub)
    async with serving(app) as client:
        before = (await client.get("/metrics")).text
        ok = [
            await client.post("/v1/tag", json={"text": "Mary Rossi met Olga . It rained ."}),
            await client.post("/v1/tag", json={"texts": ["Kofi left .", "we stayed"]}),
            await client.post("/v1/tag", json={"tokens": [["Paris", "is", "big"]]}),
        ]
        bad = await client.post("/v1/tag", json={"txt": "typo"})
        await client.get("/nowhere")
        response = await client.get("/metrics")
    after = response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert [r.status_code for r in ok] == [200, 200, 200] and bad.status_code == 422
    assert metric(before, "ner_requests_total", endpoint="/v1/tag", status="200") == 0

    def value(name: str, **labels: str) -> float:
        return metric(after, name, **labels)

    assert value("ner_requests_total", endpoint="/v1/tag", status="200") == 3
    assert value("ner_requests_total", endpoint="/v1/tag", status="422") == 1
    assert value("ner_requests_total", endpoint="other", status="404") == 1
    assert value("ner_request_duration_seconds_count", endpoint="/v1/tag", status="200") == 3
    assert value("ner_request_duration_seconds_sum", endpoint="/v1/tag", status="200") > 0
    assert value("ner_rejected_total", reason="invalid_request") == 1

    sentences = sum(len(b) for b in stub.batches)  # 5: two, two and one
    tokens = sum(len(s) for b in stub.batches for s in b)  # 16
    assert (sentences, tokens) == (5, 16)
    assert value("ner_batch_size_count") == len(stub.batches)
    assert value("ner_batch_size_sum") == sentences
    assert value("ner_batch_tokens_sum") == tokens
    assert value("ner_tokens_total") == tokens
    assert value("ner_queue_wait_seconds_count") == sentences
    assert value("ner_inference_duration_seconds_count", device="cpu") == len(stub.batches)
    assert 'device="unknown"' not in before + after  # only the device the model is on
    assert value("ner_preprocess_duration_seconds_count") == 3
    assert value("ner_postprocess_duration_seconds_count") == 3
    # Entities: "Mary Rossi", "Olga", "It", "Kofi", "Paris".
    assert value("ner_entities_total", label="PER") == 5
    assert value("ner_model_info", model="stub", device="cpu", bidirectional="true") == 1


async def test_gauges_show_queue_and_requests_in_flight(stub: StubTagger) -> None:
    stub.gate.clear()
    app = create_app(settings(max_batch_size=1), stub)
    async with serving(app) as client:
        held = [
            asyncio.create_task(client.post("/v1/tag", json={"text": f"t{i}"})) for i in range(3)
        ]
        await wait_until(lambda: stub.batches and app.state.service.serving().batcher.depth == 2)
        busy = (await client.get("/metrics")).text
        stub.gate.set()
        await asyncio.gather(*held)
        idle = (await client.get("/metrics")).text
    assert metric(busy, "ner_queue_depth") == 2
    assert metric(busy, "ner_inflight_requests") == 3
    assert metric(idle, "ner_queue_depth") == 0
    assert metric(idle, "ner_inflight_requests") == 0


async def test_latency_buckets_resolve_a_tenth_of_a_millisecond_to_ten_seconds(
    stub: StubTagger,
) -> None:
    async with serving(create_app(settings(), stub)) as client:
        await client.post("/v1/tag", json={"text": "Mary"})
        text = (await client.get("/metrics")).text
    latency = {
        "ner_request_duration_seconds",
        "ner_queue_wait_seconds",
        "ner_inference_duration_seconds",
        "ner_preprocess_duration_seconds",
        "ner_postprocess_duration_seconds",
    }
    seen = set()
    for family in text_string_to_metric_families(text):
        if family.name in latency:
            bounds = {float(s.labels["le"]) for s in family.samples if "le" in s.labels}
            assert min(bounds) <= 0.0001 and 10.0 in bounds and len(bounds) >= 15, family.name
            seen.add(family.name)
    assert seen == latency
