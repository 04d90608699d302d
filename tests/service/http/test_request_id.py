"""``X-Request-ID``: every answer carries one, the client's own when it is sane."""

from __future__ import annotations

import re

import httpx
import pytest

from service.http.app import create_app
from tests.service.support import StubTagger, serving, settings, uvicorn_thread

pytestmark = pytest.mark.anyio
GENERATED = re.compile(r"[0-9a-f]{32}")


async def test_each_answer_gets_a_new_id_unless_the_client_sent_one(stub: StubTagger) -> None:
    async with serving(create_app(settings(), stub)) as client:
        first = await client.post("/v1/tag", json={"text": "Mary left"})
        second = await client.post("/v1/tag", json={"text": "Mary left"})
        chosen = await client.post(
            "/v1/tag", json={"text": "Mary left"}, headers={"X-Request-ID": "trace-7f.2:b_1"}
        )
    ids = [r.headers["x-request-id"] for r in (first, second)]
    assert all(GENERATED.fullmatch(i) for i in ids) and ids[0] != ids[1]
    assert chosen.headers["x-request-id"] == "trace-7f.2:b_1"


@pytest.mark.parametrize("given", ["two words", "x" * 129, "a;b", ""])
async def test_an_unfit_client_id_is_replaced(stub: StubTagger, given: str) -> None:
    async with serving(create_app(settings(), stub)) as client:
        response = await client.get("/healthz", headers={"X-Request-ID": given})
    assert GENERATED.fullmatch(response.headers["x-request-id"])


async def test_error_answers_carry_one_too(stub: StubTagger) -> None:
    async with serving(create_app(settings(), stub)) as client:
        invalid = await client.post("/v1/tag", json={"txt": "typo"})
        missing = await client.get("/nowhere", headers={"X-Request-ID": "abc"})
    assert invalid.status_code == 422 and GENERATED.fullmatch(invalid.headers["x-request-id"])
    assert missing.status_code == 404 and missing.headers["x-request-id"] == "abc"


def test_a_real_server_sends_exactly_one(stub: StubTagger) -> None:
    with uvicorn_thread(create_app(settings(), stub)) as url:
        response = httpx.post(
            f"{url}/v1/tag", json={"text": "Mary left"}, headers={"X-Request-ID": "r1"}
        )
    assert response.status_code == 200
    assert response.headers.get_list("x-request-id") == ["r1"]
