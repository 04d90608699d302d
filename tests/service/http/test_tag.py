"""``POST /v1/tag`` through the app's lifespan: the three input forms, order, offsets, errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from model.tagger import Tagger
from service.http.app import create_app
from service.http.schemas.tag import TagResponse
from service.settings import Settings
from tests.service.support import StubTagger, metric, serving, settings, wait_until

pytestmark = pytest.mark.anyio


async def test_text_gets_entities_with_character_offsets(tiny_tagger: Tagger) -> None:
    text = "Mary Rossi visited Oslo on Monday.  Acme Corp hired Kofi Berg in Lima."
    async with serving(create_app(settings(), tiny_tagger)) as client:
        response = await client.post("/v1/tag", json={"text": text})
    assert response.status_code == 200
    body = TagResponse.model_validate_json(response.content)
    assert (body.model, body.device) == ("model", "cpu")
    (result,) = body.results
    assert [(e.label, e.text) for e in result.entities] == [
        ("PER", "Mary Rossi"),
        ("LOC", "Oslo"),
        ("ORG", "Acme Corp"),
        ("PER", "Kofi Berg"),
        ("LOC", "Lima"),
    ]
    for span in [*result.tokens, *result.entities]:
        assert text[span.start : span.end] == span.text
        assert 0.0 < span.score <= 1.0
    assert [t.tag for t in result.tokens[:4]] == ["B-PER", "I-PER", "O", "B-LOC"]


async def test_texts_and_tokens_with_the_real_model(tiny_tagger: Tagger) -> None:
    texts = ["Kofi Berg visited Perth .", "", "The weather in Cairo was cold ."]
    tokens = [["In", "Lima", ",", "Olga", "Berg", "met", "Initech", "."], []]
    async with serving(create_app(settings(), tiny_tagger)) as client:
        by_text = await client.post("/v1/tag", json={"texts": texts})
        by_tokens = await client.post("/v1/tag", json={"tokens": tokens})
    results = TagResponse.model_validate_json(by_text.content).results
    assert [[e.text for e in r.entities] for r in results] == [
        ["Kofi Berg", "Perth"],
        [],
        ["Cairo"],
    ]
    first, empty = TagResponse.model_validate_json(by_tokens.content).results
    assert [(e.label, e.start, e.end, e.text) for e in first.entities] == [
        ("LOC", 1, 2, "Lima"),
        ("PER", 3, 5, "Olga Berg"),
        ("ORG", 6, 7, "Initech"),
    ]
    assert [(t.start, t.end) for t in first.tokens] == [(i, i + 1) for i in range(8)]
    assert empty.tokens == [] and empty.entities == []


async def test_many_texts_keep_their_order_across_batches(stub: StubTagger) -> None:
    texts = [f"Then Name{i} spoke. It rained." for i in range(20)]
    other = [f"Other{i} went home." for i in range(20)]
    app = create_app(settings(max_batch_size=3, max_texts=20), stub)
    async with serving(app) as client:
        mine, theirs = await asyncio.gather(
            client.post("/v1/tag", json={"texts": texts}),
            client.post("/v1/tag", json={"texts": other}),
        )
    assert len(stub.batches) >= 20  # 60 sentences, at most 3 a batch: requests were split up
    expected = [[f"Then Name{i}", "It"] for i in range(20)]
    assert [[e["text"] for e in r["entities"]] for r in mine.json()["results"]] == expected
    assert [[e["text"] for e in r["entities"]] for r in theirs.json()["results"]] == [
        [f"Other{i}"] for i in range(20)
    ]


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(st.text(max_size=60), min_size=1, max_size=4))
def test_offsets_index_into_each_text(texts: list[str]) -> None:
    async def tag() -> httpx.Response:
        async with serving(create_app(settings(), StubTagger())) as client:
            return await client.post("/v1/tag", json={"texts": texts})

    response = asyncio.run(tag())
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == len(texts)
    for text, result in zip(texts, results, strict=True):
        end = 0
        for token in result["tokens"]:
            assert token["start"] >= end and text[token["start"] : token["end"]] == token["text"]
            end = token["end"]
        assert "".join(t["text"] for t in result["tokens"]) == "".join(text.split())
        for entity in result["entities"]:
            assert text[entity["start"] : entity["end"]] == entity["text"]


def _post(body: bytes, content_type: str | None = "application/json") -> dict[str, Any]:
    headers = {} if content_type is None else {"content-type": content_type}
    return {"content": body, "headers": headers}


#: Bad bodies with the status and error code they get, under the limits of :func:`limited`.
BAD_REQUESTS = [
    (_post(b'{"text": "a",'), 400, "invalid_json"),
    (_post(b""), 400, "invalid_json"),
    (_post(b'{"text": "\xff"}'), 400, "invalid_json"),
    (_post(b'{"text": "a"}', "text/plain"), 415, "unsupported_media_type"),
    (_post(b'{"text": "a"}', None), 415, "unsupported_media_type"),
    (_post(b"{}"), 422, "invalid_request"),
    (_post(b'["a"]'), 422, "invalid_request"),
    (_post(b'{"text": 3}'), 422, "invalid_request"),
    (_post(b'{"text": "a", "texts": ["b"]}'), 422, "invalid_request"),
    (_post(b'{"txt": "a"}'), 422, "invalid_request"),
    (_post(b'{"tokens": [["a", ""]]}'), 422, "invalid_request"),
    (_post(b'{"tokens": ["a b"]}'), 422, "invalid_request"),
    (_post(json.dumps({"texts": ["a"] * 5}).encode()), 413, "too_many_texts"),
    (_post(json.dumps({"text": "a" * 101}).encode()), 413, "text_too_long"),
    (_post(json.dumps({"tokens": [["a" * 60, "b" * 60]]}).encode()), 413, "text_too_long"),
    (_post(json.dumps({"text": "Yes . " * 7}).encode()), 413, "too_many_sentences"),
    (_post(json.dumps({"text": "a" * 99}).encode() + b" " * 200), 413, "body_too_large"),
]


def limited(**values: Any) -> Settings:
    """Settings with small limits, for :data:`BAD_REQUESTS`."""
    return settings(max_texts=4, max_text_chars=100, max_body_bytes=200, max_queue=6, **values)


@pytest.mark.parametrize(("request_args", "status", "code"), BAD_REQUESTS)
async def test_bad_requests_get_a_fitting_4xx(
    stub: StubTagger, request_args: dict[str, Any], status: int, code: str
) -> None:
    app = create_app(limited(), stub)
    async with serving(app) as client:
        response = await client.post("/v1/tag", **request_args)
        metrics = (await client.get("/metrics")).text
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert metric(metrics, "ner_rejected_total", reason=code) == 1
    assert stub.batches == []


async def test_streamed_body_over_the_limit_gets_413(stub: StubTagger) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"text": "'
        for _ in range(10):
            yield b"a" * 50
        yield b'"}'

    async with serving(create_app(settings(max_body_bytes=200), stub)) as client:
        response = await client.post(
            "/v1/tag", content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


async def test_unknown_paths_and_methods_answer_in_the_error_format(stub: StubTagger) -> None:
    async with serving(create_app(settings(), stub)) as client:
        missing = await client.get("/v2/tag")
        wrong_method = await client.get("/v1/tag")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (
        405,
        "method_not_allowed",
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PAYLOADS = JSON | st.fixed_dictionaries({}, optional={"text": JSON, "texts": JSON, "tokens": JSON})


@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=PAYLOADS)
def test_no_json_body_gets_a_5xx(payload: object) -> None:
    async def post() -> httpx.Response:
        async with serving(create_app(settings(), StubTagger())) as client:
            return await client.post(
                "/v1/tag", content=json.dumps(payload), headers={"content-type": "application/json"}
            )

    response = asyncio.run(post())
    assert response.status_code in {200, 413, 422}, response.text
    if response.status_code == 200:
        TagResponse.model_validate_json(response.content)
    else:
        assert set(response.json()["error"]) == {"code", "message"}


async def test_full_queue_gets_503_with_retry_after(stub: StubTagger) -> None:
    stub.gate.clear()
    app = create_app(settings(max_batch_size=1, max_queue=2), stub)
    async with serving(app) as client:
        held = asyncio.create_task(client.post("/v1/tag", json={"text": "held"}))
        await wait_until(lambda: stub.batches)
        queued = asyncio.create_task(client.post("/v1/tag", json={"texts": ["one", "two"]}))
        await wait_until(lambda: app.state.service.serving().batcher.depth == 2)
        refused = await client.post("/v1/tag", json={"text": "three"})
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["code"] == "queue_full"
        stub.gate.set()
        assert (await held).status_code == 200 and (await queued).status_code == 200
        again = await client.post("/v1/tag", json={"text": "three"})
        metrics = (await client.get("/metrics")).text
    assert again.status_code == 200
    assert metric(metrics, "ner_rejected_total", reason="queue_full") == 1


async def test_one_client_over_its_limit_gets_429(stub: StubTagger) -> None:
    stub.gate.clear()
    app = create_app(settings(max_client_inflight=1, max_batch_size=1), stub)
    async with serving(app) as client:
        held = asyncio.create_task(client.post("/v1/tag", json={"text": "held"}))
        await wait_until(lambda: stub.batches)
        refused = await client.post("/v1/tag", json={"text": "more"})
        stub.gate.set()
        assert (await held).status_code == 200
        later = await client.post("/v1/tag", json={"text": "later"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_requests"
    assert refused.headers["retry-after"] == "1"
    assert later.status_code == 200


async def test_failing_batch_is_a_500_for_each_caller_then_service_goes_on(
    stub: StubTagger,
) -> None:
    stub.fail_next = RuntimeError("device lost")
    app = create_app(settings(max_batch_size=3, max_wait_ms=5000), stub)
    async with serving(app) as client:
        failed = await asyncio.gather(
            *(client.post("/v1/tag", json={"text": f"t{i}"}) for i in range(3))
        )
        after = await asyncio.gather(
            *(client.post("/v1/tag", json={"text": f"Mary{i}"}) for i in range(3))
        )
        ready = await client.get("/readyz")
    assert [len(b) for b in stub.batches] == [3, 3]
    for response in failed:
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "inference_failed"
    for i, response in enumerate(after):
        assert response.status_code == 200
        assert response.json()["results"][0]["entities"][0]["text"] == f"Mary{i}"
    assert ready.status_code == 200


async def test_openapi_shows_request_examples_and_error_answers(stub: StubTagger) -> None:
    async with serving(create_app(settings(), stub)) as client:
        schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/tag"]["post"]
    examples = operation["requestBody"]["content"]["application/json"]["examples"]
    assert {name: list(e["value"]) for name, e in examples.items()} == {
        "text": ["text"],
        "texts": ["texts"],
        "tokens": ["tokens"],
    }
    for status in ("400", "413", "415", "422", "429", "503"):
        content = operation["responses"][status]["content"]["application/json"]
        assert content["schema"]["$ref"].endswith("/ErrorResponse")
    assert schema["components"]["schemas"]["TagResponse"]["examples"]


async def test_long_texts_are_tokenized_off_the_event_loop_alike(stub: StubTagger) -> None:
    texts = ["Mary Rossi went home , " * 390] * 3  # 27,000 characters: over the inline limit
    async with serving(create_app(settings(), stub)) as client:
        response = await client.post("/v1/tag", json={"texts": texts})
    assert response.status_code == 200
    for text, result in zip(texts, response.json()["results"], strict=True):
        assert [e["text"] for e in result["entities"]] == ["Mary Rossi"] * 390
        assert all(text[e["start"] : e["end"]] == "Mary Rossi" for e in result["entities"])
