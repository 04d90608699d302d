"""``GET /v1/models``: what is served, read from the loaded model."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.tagger import Tagger
from service.http.app import create_app
from tests.service.support import serving, settings

pytestmark = pytest.mark.anyio


async def test_describes_the_loaded_bigru(tiny_tagger: Tagger) -> None:
    async with serving(create_app(settings(), tiny_tagger)) as client:
        response = await client.get("/v1/models")
    assert response.status_code == 200
    (described,) = response.json()["models"]
    weights = sum(p.numel() for p in tiny_tagger.model.network.parameters())
    assert described == {
        "name": "model",
        "version": None,
        "state": "ready",
        "reason": None,
        "default": True,
        "twin": None,
        "labels": ["LOC", "ORG", "PER"],
        "bidirectional": True,
        "parameters": weights,
        "device": "cpu",
    }


async def test_lists_the_forward_model_of_compare_after_the_default_model(
    tiny_tagger: Tagger, tiny_forward_tagger: Tagger
) -> None:
    app = create_app(settings(), tiny_tagger, tiny_forward_tagger)
    async with serving(app) as client:
        tagging, comparing = (await client.get("/v1/models")).json()["models"]
    assert (tagging["name"], tagging["default"], tagging["twin"]) == (
        "model",
        True,
        "forward-model",
    )
    assert (comparing["name"], comparing["default"], comparing["twin"]) == (
        "forward-model",
        False,
        None,
    )
    assert (tagging["bidirectional"], comparing["bidirectional"]) == (True, False)
    weights = sum(p.numel() for p in tiny_forward_tagger.model.network.parameters())
    assert comparing["parameters"] == weights


async def test_loads_the_model_named_in_settings(tiny_forward_model: Path) -> None:
    app = create_app(settings(model=tiny_forward_model, device="cpu"))  # no tagger passed
    async with serving(app) as client:
        described = (await client.get("/v1/models")).json()["models"][0]
        tagged = await client.post("/v1/tag", json={"text": "Mary Rossi visited Oslo ."})
    assert described["bidirectional"] is False
    assert [e["label"] for e in tagged.json()["results"][0]["entities"]] == ["PER", "LOC"]


async def test_the_model_can_stay_in_the_server_process(tiny_forward_model: Path) -> None:
    app = create_app(settings(model=tiny_forward_model, device="cpu", model_workers=0))
    async with serving(app) as client:
        described = (await client.get("/v1/models")).json()["models"][0]
        tagged = await client.post("/v1/tag", json={"text": "Mary Rossi visited Oslo ."})
    assert described["bidirectional"] is False
    assert [e["label"] for e in tagged.json()["results"][0]["entities"]] == ["PER", "LOC"]


async def test_loading_without_a_repository_is_a_conflict_not_a_fault(tiny_tagger: Tagger) -> None:
    async with serving(create_app(settings(), tiny_tagger)) as client:
        response = await client.post("/v1/models/model/load")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "no_repository",
        "message": "the server serves no model repository",
    }
