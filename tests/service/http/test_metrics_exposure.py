"""Where ``/metrics`` is served: on the API's port, on a port of its own, or not at all."""

from __future__ import annotations

import httpx

from service.http.app import create_app
from tests.deploy.support import free_port
from tests.service.support import StubTagger, metric, settings, uvicorn_thread


def test_metrics_can_be_turned_off(stub: StubTagger) -> None:
    with uvicorn_thread(create_app(settings(metrics_port="off"), stub)) as url:
        tagged = httpx.post(url + "/v1/tag", json={"text": "Mary left"}, timeout=30)
        scraped = httpx.get(url + "/metrics", timeout=30)
        schema = httpx.get(url + "/openapi.json", timeout=30).json()
    assert tagged.status_code == 200
    assert scraped.status_code == 404 and scraped.json()["error"]["code"] == "not_found"
    assert "/metrics" not in schema["paths"]


def test_metrics_can_move_to_a_port_of_their_own(stub: StubTagger) -> None:
    port = free_port()
    app = create_app(settings(metrics_port=port), stub)
    with uvicorn_thread(app) as url:
        tagged = httpx.post(url + "/v1/tag", json={"text": "Mary left"}, timeout=30)
        on_api_port = httpx.get(url + "/metrics", timeout=30)
        apart = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    assert tagged.status_code == 200
    assert on_api_port.status_code == 404
    assert apart.status_code == 200
    assert metric(apart.text, "ner_requests_total", endpoint="/v1/tag", status="200") == 1
    # Shutting the app down closed the metrics port too.
    try:
        closed = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code
    except httpx.ConnectError:
        closed = None
    assert closed is None
