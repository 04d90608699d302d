"""What every ``/v1/*`` request goes through: the API key, the deadline, the client leaving."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from service.http.app import create_app
from tests.service.support import (
    StubTagger,
    metric,
    serving,
    settings,
    uvicorn_thread,
    wait_until,
)

pytestmark = pytest.mark.anyio
TEXT = {"text": "Mary left"}


async def test_api_key_is_required_on_v1_only(stub: StubTagger) -> None:
    app = create_app(settings(api_key="s3cret-key"), stub)
    async with serving(app) as client:
        missing = await client.post("/v1/tag", json=TEXT)
        wrong = await client.post("/v1/tag", json=TEXT, headers={"X-API-Key": "s3cret-kez"})
        wrong_scheme = await client.get("/v1/models", headers={"Authorization": "Basic s3cret-key"})
        bearer = await client.post(
            "/v1/tag", json=TEXT, headers={"Authorization": "bearer s3cret-key"}
        )
        header = await client.get("/v1/models", headers={"X-API-Key": "s3cret-key"})
        open_paths = [await client.get(path) for path in ("/healthz", "/readyz", "/metrics")]
        schema = (await client.get("/openapi.json")).json()
        metrics = (await client.get("/metrics")).text
    for refused in (missing, wrong, wrong_scheme):
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "s3cret" not in refused.text
    assert bearer.status_code == 200 and header.status_code == 200
    assert [r.status_code for r in open_paths] == [200, 200, 200]
    assert stub.batches == [[["Mary", "left"]]]  # only the request with the key was tagged
    assert metric(metrics, "ner_rejected_total", reason="unauthorized") == 3
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert "401" in schema["paths"]["/v1/tag"]["post"]["responses"]
    assert "security" not in schema["paths"]["/healthz"]["get"]


async def test_without_a_key_v1_is_open(stub: StubTagger) -> None:
    async with serving(create_app(settings(), stub)) as client:
        tagged = await client.post("/v1/tag", json=TEXT)
        schema = (await client.get("/openapi.json")).json()
    assert tagged.status_code == 200
    assert "securitySchemes" not in schema["components"]


async def test_past_the_deadline_the_answer_is_504_and_the_work_is_withdrawn(
    stub: StubTagger,
) -> None:
    stub.gate.clear()
    app = create_app(settings(request_timeout_s=0.3, max_batch_size=1), stub)
    service = app.state.service
    async with serving(app) as client:
        held = asyncio.create_task(client.post("/v1/tag", json={"text": "held"}))
        await wait_until(lambda: stub.batches)
        started = time.monotonic()
        queued = await client.post("/v1/tag", json={"text": "queued"})
        waited = time.monotonic() - started
        assert service.serving().batcher.depth == 0  # nothing left waiting for the model
        in_model = await held  # its batch is still in the model: it times out as well
        assert service.active == 0 and not service.clients  # no place held for them
        stub.gate.set()
        after = await client.post("/v1/tag", json={"text": "after"})
        metrics = (await client.get("/metrics")).text
    for response in (queued, in_model):
        assert response.status_code == 504
        assert response.json()["error"] == {
            "code": "timeout",
            "message": "no answer within NER_REQUEST_TIMEOUT_S=0.3 s",
        }
    assert 0.25 < waited < 5  # answered at the deadline, not when the model got round to it
    assert after.status_code == 200
    assert [b[0] for b in stub.batches] == [["held"], ["after"]]  # "queued" never computed
    assert metric(metrics, "ner_rejected_total", reason="timeout") == 2
    assert metric(metrics, "ner_requests_total", endpoint="/v1/tag", status="504") == 2


def test_clients_that_disconnect_leave_no_work_behind(stub: StubTagger) -> None:
    stub.gate.clear()
    app = create_app(settings(max_batch_size=1), stub)
    service = app.state.service
    with uvicorn_thread(app) as url:
        with httpx.Client(base_url=url, timeout=30) as patient:

            async def leave_early() -> None:
                async with httpx.AsyncClient(base_url=url, timeout=0.3) as impatient:
                    held = asyncio.create_task(patient_post(url, "held"))
                    await wait_until(lambda: stub.batches)
                    for i in range(3):
                        with pytest.raises(httpx.ReadTimeout):
                            await impatient.post("/v1/tag", json={"texts": [f"gone{i}", "x"]})
                    await wait_until(
                        lambda: service.serving().batcher.depth == 0 and service.active == 1
                    )
                    stub.gate.set()
                    assert (await held).status_code == 200

            asyncio.run(leave_early())
            assert service.active == 0 and not service.clients
            metrics = patient.get("/metrics").text
    assert stub.batches == [[["held"]]]
    assert metric(metrics, "ner_rejected_total", reason="client_disconnected") == 3


async def patient_post(url: str, text: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await client.post("/v1/tag", json={"text": text})
