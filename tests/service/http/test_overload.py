"""A burst of several times what the service can hold, against a real uvicorn server: the
excess is refused at once with 503 and ``Retry-After``, what was accepted is answered in full,
and the service serves normally as soon as the burst is over."""

from __future__ import annotations

import asyncio

import httpx

from service.core.batching import Batcher
from service.http.app import create_app
from tests.service.support import StubTagger, metric, settings, uvicorn_thread, wait_until

REQUESTS = 48
QUEUE = 6


def test_a_burst_is_refused_fast_accepted_work_completes_and_service_recovers(
    stub: StubTagger,
) -> None:
    stub.gate.clear()  # the model is stuck: only refusals can come back until it is released
    app = create_app(settings(max_batch_size=2, max_queue=QUEUE), stub)

    def batcher() -> Batcher:
        return app.state.service.served["stub"].batcher

    with uvicorn_thread(app) as url:

        async def burst() -> tuple[list[httpx.Response], list[httpx.Response], int, list[int]]:
            limits = httpx.Limits(max_connections=REQUESTS)
            async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
                texts = [f"Name{i} left ." for i in range(REQUESTS)]
                tasks = [
                    asyncio.create_task(client.post("/v1/tag", json={"text": t})) for t in texts
                ]

                def settled() -> bool:  # every request refused, in the model or queued
                    held = len(stub.batches[0]) if stub.batches else 0
                    return sum(t.done() for t in tasks) + held + batcher().depth == REQUESTS

                await wait_until(settled, timeout=30)
                answered = [t for t in tasks if t.done()]
                # Top the queue up (the model took some while the burst came in); once it is
                # full a request is refused before its body is read: even a malformed one.
                more = [{"text": f"More{i} left ."} for i in range(QUEUE - batcher().depth)]
                tasks += [asyncio.create_task(client.post("/v1/tag", json=b)) for b in more]
                await wait_until(lambda: batcher().depth == QUEUE)
                shed = await client.post("/v1/tag", content=b"{not json")
                assert shed.status_code == 503 and shed.json()["error"]["code"] == "queue_full"
                held = len(stub.batches[0])
                stub.gate.set()
                refused = [t.result() for t in answered]
                accepted = [await t for t in tasks if t not in answered]
                after = await asyncio.gather(
                    *(client.post("/v1/tag", json={"text": f"Olga{i} stayed ."}) for i in range(4))
                )
                return refused, accepted, held, [r.status_code for r in after]

        refused, accepted, held, after = asyncio.run(burst())
        metrics = httpx.get(url + "/metrics").text
    assert len(refused) >= REQUESTS - QUEUE - 2
    for response in refused:
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "queue_full"
    assert len(accepted) == held + QUEUE  # all that the model and the queue could hold
    for response in accepted:
        assert response.status_code == 200
        (result,) = response.json()["results"]
        assert [t["text"] for t in result["tokens"]][1:] == ["left", "."]
    assert after == [200] * 4  # recovered at once
    assert batcher().depth == 0
    assert metric(metrics, "ner_rejected_total", reason="queue_full") == len(refused) + 1
