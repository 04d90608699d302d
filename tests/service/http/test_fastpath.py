"""``POST /v1/tag`` by the fast path answers what the route answers, byte for byte, for good
requests and for every kind of bad one (which it hands to the route)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from model.tagger import Tagger
from service.http import fastpath
from service.http.app import create_app
from service.http.routes import tag as tag_route
from tests.service.support import serving, settings

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}

REQUESTS: dict[str, tuple[dict[str, str], bytes]] = {
    "one text": (JSON, json.dumps({"text": "Mary Rossi visited Oslo . She left ."}).encode()),
    "texts": (JSON, json.dumps({"texts": ["Acme Corp hired Kofi .", "", "Oslo"]}).encode()),
    "tokens": (JSON, json.dumps({"tokens": [["Mary", "Rossi"], []]}).encode()),
    "escaped and non-ASCII": (JSON, json.dumps({"text": "Zoë met 習近平 in Zürich ."}).encode()),
    "UTF-8 as such": (JSON, '{"text": "Zoë met 習近平 in Zürich ."}'.encode()),
    "not JSON": (JSON, b'{"text": "Oslo"'),
    "empty body": (JSON, b""),
    "not UTF-8": (JSON, b'{"text": "\xff\xfe"}'),
    "two fields": (JSON, json.dumps({"text": "Oslo", "texts": ["Oslo"]}).encode()),
    "unknown field": (JSON, json.dumps({"text": "Oslo", "lang": "en"}).encode()),
    "wrong type": (JSON, json.dumps({"texts": "Oslo"}).encode()),
    "empty token": (JSON, json.dumps({"tokens": [["Oslo", ""]]}).encode()),
    "lone surrogate": (JSON, b'{"text": "Oslo \\ud800 ."}'),
    "too many texts": (JSON, json.dumps({"texts": ["Oslo"] * 5}).encode()),
    "text too long": (JSON, json.dumps({"text": "Oslo " * 30}).encode()),
    "JSON with a charset": (
        {"content-type": "application/json; charset=utf-8"},
        json.dumps({"text": "Mary Rossi visited Oslo ."}).encode(),
    ),
    "not declared JSON": ({"content-type": "text/plain"}, b'{"text": "Oslo"}'),
    "two content types": (
        {"content-type": "application/json", "Content-Type": "text/plain"},
        b'{"text": "Oslo"}',
    ),
}


async def answers(tagger: Tagger, fast: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    if not fast:
        monkeypatch.setattr(fastpath, "_plain_tag_request", lambda scope: False)
    app = create_app(settings(max_texts=4, max_text_chars=100), tagger)
    out = {}
    async with serving(app) as client:
        for name, (headers, body) in REQUESTS.items():
            answer = await client.post("/v1/tag", content=body, headers=headers)
            kept = {k: v for k, v in answer.headers.items() if k != "x-request-id"}
            out[name] = (answer.status_code, kept, answer.content)
        out["metrics"] = _rejections((await client.get("/metrics")).text)
    monkeypatch.undo()
    return out


def _rejections(exposed: str) -> list[str]:
    return sorted(line for line in exposed.splitlines() if line.startswith("ner_rejected_total"))


async def test_answers_and_refusals_are_the_routes_own(
    tiny_tagger: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_route = await answers(tiny_tagger, False, monkeypatch)
    by_fast_path = await answers(tiny_tagger, True, monkeypatch)
    assert by_fast_path == by_route
    statuses = {name: by_route[name][0] for name in REQUESTS}
    assert statuses["one text"] == statuses["tokens"] == 200
    assert {statuses["not JSON"], statuses["lone surrogate"], statuses["text too long"]} == {
        400,
        422,
        413,
    }


async def test_a_service_that_is_not_ready_refuses_as_the_route_does(
    tiny_tagger: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = []
    for fast in (False, True):
        if not fast:
            monkeypatch.setattr(fastpath, "_plain_tag_request", lambda scope: False)
        app = create_app(settings(), tiny_tagger)
        async with serving(app) as client:
            monkeypatch.setattr(type(app.state.service), "ready", property(lambda self: False))
            answer = await client.post("/v1/tag", json={"text": "Mary Rossi visited Oslo ."})
            exposed = (await client.get("/metrics")).text
        monkeypatch.undo()
        kept = {k: v for k, v in answer.headers.items() if k != "x-request-id"}
        answers.append((answer.status_code, kept, answer.content, _rejections(exposed)))
    assert answers[0] == answers[1]
    assert answers[0][0] == 503 and "retry-after" in answers[0][1]


async def test_plain_requests_never_reach_the_route(
    tiny_tagger: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    reached = []
    checked = tag_route.require_json  # the first thing the route does with a request

    def counted(request: Any) -> None:
        reached.append(request.url.path)
        checked(request)

    monkeypatch.setattr(tag_route, "require_json", counted)
    app = create_app(settings(), tiny_tagger)
    async with serving(app) as client:
        plain = await client.post("/v1/tag", json={"text": "Mary Rossi visited Oslo ."})
        bad = await client.post("/v1/tag", json={"text": 1})
    assert plain.status_code == 200 and plain.json()["results"][0]["entities"]
    assert bad.status_code == 422
    assert reached == ["/v1/tag"]  # the bad one only


async def test_a_client_that_leaves_mid_body_is_handed_to_the_route() -> None:
    given: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"text": ', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return given.pop(0)

    body, ended = await fastpath._body(receive)
    assert body == b'{"text": ' and ended == {"type": "http.disconnect"}
    again = fastpath._replay(body, ended, receive)
    assert await again() == {"type": "http.request", "body": b'{"text": ', "more_body": True}
    assert await again() == {"type": "http.disconnect"}


def test_only_plain_json_posts_to_the_tag_path_qualify() -> None:
    def scope(**changes: Any) -> dict[str, Any]:
        base = {"type": "http", "method": "POST", "path": "/v1/tag"}
        return base | {"headers": [(b"content-type", b"application/json")]} | changes

    assert fastpath._plain_tag_request(scope())
    assert not fastpath._plain_tag_request(scope(method="GET"))
    assert not fastpath._plain_tag_request(scope(path="/v1/compare"))
    assert not fastpath._plain_tag_request(scope(headers=[]))
    assert not fastpath._plain_tag_request(
        scope(headers=[(b"content-type", b"application/json; charset=utf-8")])
    )
