"""Hostile and odd input through the real tokenizer and a tiny real model: a fitting 4xx or a
200 whose offsets index into the text, never a 5xx."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from model.tagger import Tagger
from service.http.app import create_app
from tests.service.support import serving, settings

pytestmark = pytest.mark.anyio

ODD_TEXTS = {
    "empty": "",
    "whitespace only": " \t\n\r\u00a0\u2003\u3000 ",
    "control characters": "Mary\x01\x07 left\x1b[31m Oslo\x7f.\x85",
    "NUL": "Mary\x00Rossi went\x00 to Oslo .",
    "emoji": "Mary 😀 met 👩‍👩‍👧 in 🇫🇷 Paris .",
    "combining marks": "Zoe\u0308 met Jose\u0301 in Sa\u0303o Paulo , a\u0336\u0336",
    "right to left": "\u05e9\u05dc\u05d5\u05dd Mary \u0645\u0631\u062d\u0628\u0627 Oslo .",
    "bidi controls": "\u202eMary\u202c went \u2066to\u2069 \u200fOslo\u200e .",
    "mixed scripts": "Владимир met 習近平 and Ἀθηνᾶ in Zürich , ÅSE .",
    "one enormous token": "x" * 9_999,
    "zero width": "Ma\u200bry \ufeffOslo\u200d .",
}


@pytest.fixture
def app(tiny_tagger: Tagger) -> object:
    return create_app(settings(max_text_chars=10_000), tiny_tagger)


def assert_offsets_valid(text: str, result: dict[str, list[dict[str, object]]]) -> None:
    end = 0
    for token in result["tokens"]:
        start, stop = token["start"], token["end"]
        assert isinstance(start, int) and isinstance(stop, int)
        assert end <= start < stop <= len(text)
        assert text[start:stop] == token["text"]
        end = stop
    for entity in result["entities"]:
        start, stop = entity["start"], entity["end"]
        assert isinstance(start, int) and isinstance(stop, int)
        assert text[start:stop] == entity["text"]


@pytest.mark.parametrize("name", list(ODD_TEXTS))
async def test_odd_text_is_tagged_with_valid_offsets(app: object, name: str) -> None:
    text = ODD_TEXTS[name]
    async with serving(app) as client:  # type: ignore[arg-type]
        one = await client.post("/v1/tag", json={"text": text})
        many = await client.post("/v1/tag", json={"texts": [text, "Mary left ."]})
    assert one.status_code == 200 and many.status_code == 200, one.text + many.text
    assert_offsets_valid(text, one.json()["results"][0])
    # Alone or next to another text, the same tokens (scores may differ in the last bits).
    alone, beside = one.json()["results"][0], many.json()["results"][0]
    spans = [(t["text"], t["start"], t["end"]) for t in alone["tokens"]]
    assert [(t["text"], t["start"], t["end"]) for t in beside["tokens"]] == spans
    assert "".join(t["text"] for t in one.json()["results"][0]["tokens"]) == "".join(text.split())


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "Mary \\ud800 left"}',
        b'{"texts": ["fine", "\\udfff"]}',
        b'{"tokens": [["Mary", "\\ud83d"]]}',
    ],
)
async def test_lone_surrogates_are_refused_as_invalid_unicode(app: object, body: bytes) -> None:
    async with serving(app) as client:  # type: ignore[arg-type]
        response = await client.post(
            "/v1/tag", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


async def test_limits_are_named_in_the_error(tiny_tagger: Tagger) -> None:
    app = create_app(settings(max_text_chars=50, max_texts=3, max_body_bytes=5_000), tiny_tagger)
    async with serving(app) as client:
        long_text = await client.post("/v1/tag", json={"text": "a" * 51})
        many = await client.post("/v1/tag", json={"texts": ["a"] * 4})
        body = await client.post("/v1/tag", json={"text": "a " * 3_000})
    assert long_text.status_code == 413 and "at most 50" in long_text.json()["error"]["message"]
    assert many.status_code == 413 and "at most 3" in many.json()["error"]["message"]
    assert body.status_code == 413 and "5000 bytes" in body.json()["error"]["message"]


# Any code point, surrogates included: those must be refused, everything else tagged.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=80)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=3))
def test_any_unicode_gets_200_with_valid_offsets_or_422(
    tiny_tagger: Tagger, texts: list[str]
) -> None:
    async def post() -> httpx.Response:
        async with serving(create_app(settings(), tiny_tagger)) as client:
            body = json.dumps({"texts": texts})  # escapes surrogates as \\udXXX, as JSON allows
            return await client.post(
                "/v1/tag", content=body, headers={"content-type": "application/json"}
            )

    response = asyncio.run(post())
    if any("\ud800" <= char <= "\udfff" for text in texts for char in text):
        assert response.status_code == 422, response.text
        return
    assert response.status_code == 200, response.text
    for text, result in zip(texts, response.json()["results"], strict=True):
        assert_offsets_valid(text, result)


@pytest.mark.parametrize("path", ["/v1/tag", "/v1/compare"])
async def test_a_body_nested_too_deep_for_the_decoder_is_invalid_json(
    path: str, tiny_tagger: Tagger, tiny_forward_tagger: Tagger
) -> None:
    # 100,000 nested arrays: 200 KB, under the body limit, deeper than json.loads can go.
    body = b"[" * 100_000 + b"]" * 100_000
    app = create_app(settings(), tiny_tagger, tiny_forward_tagger)
    async with serving(app) as client:
        answer = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    error = {"code": "invalid_json", "message": "the body is nested too deep"}
    assert answer.json()["error"] == error
