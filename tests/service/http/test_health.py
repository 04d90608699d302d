"""``/healthz`` and ``/readyz`` across the app's life: before start-up, serving, shutting down."""

from __future__ import annotations

import asyncio

import pytest

from service.http.app import create_app
from tests.service.support import StubTagger, client_for, serving, settings, wait_until

pytestmark = pytest.mark.anyio


async def test_before_start_up_only_liveness_answers_200(stub: StubTagger) -> None:
    app = create_app(settings(), stub)
    async with client_for(app) as client:  # the lifespan has not run
        alive = await client.get("/healthz")
        ready = await client.get("/readyz")
        tagged = await client.post("/v1/tag", json={"text": "Mary"})
        models = await client.get("/v1/models")
    assert (alive.status_code, alive.json()) == (200, {"status": "ok"})
    assert ready.status_code == 503 and ready.headers["retry-after"] == "1"
    assert ready.json()["error"]["code"] == "not_ready"
    assert tagged.status_code == 503 and tagged.json()["error"]["code"] == "not_ready"
    assert models.status_code == 503
    assert stub.batches == []


async def test_ready_once_started(stub: StubTagger) -> None:
    async with serving(create_app(settings(), stub)) as client:
        ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_shutdown_turns_unready_and_finishes_accepted_requests(stub: StubTagger) -> None:
    stub.gate.clear()
    app = create_app(settings(max_batch_size=1), stub)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    async with client_for(app) as client:
        in_model = asyncio.create_task(client.post("/v1/tag", json={"text": "Mary left"}))
        await wait_until(lambda: stub.batches)
        queued = asyncio.create_task(client.post("/v1/tag", json={"text": "Olga stayed"}))
        await wait_until(lambda: app.state.service.serving().batcher.depth == 1)

        shutdown = asyncio.create_task(lifespan.__aexit__(None, None, None))
        await wait_until(lambda: not app.state.service.ready)
        ready = await client.get("/readyz")
        late = await client.post("/v1/tag", json={"text": "too late"})
        alive = await client.get("/healthz")
        assert not shutdown.done()  # draining: it waits for the accepted sentences

        stub.gate.set()
        async with asyncio.timeout(10):
            first, second = await in_model, await queued
            await shutdown
        after = await client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
    assert late.status_code == 503 and late.json()["error"]["code"] == "not_ready"
    assert alive.status_code == 200
    assert first.json()["results"][0]["entities"][0]["text"] == "Mary"
    assert second.json()["results"][0]["entities"][0]["text"] == "Olga"
    assert after.status_code == 503
