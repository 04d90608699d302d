"""``GET /v1/models``: what is served, read from the loaded model."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.tagger import Tagger
from service.app import create_app
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
        "labels": ["LOC", "ORG", "PER"],
        "bidirectional": True,
        "parameters": weights,
        "device": "cpu",
    }


async def test_loads_the_model_named_in_settings(tiny_forward_model: Path) -> None:
    app = create_app(settings(model=tiny_forward_model, device="cpu"))  # no tagger passed
    async with serving(app) as client:
        described = (await client.get("/v1/models")).json()["models"][0]
        tagged = await client.post("/v1/tag", json={"text": "Mary Rossi visited Oslo ."})
    assert described["bidirectional"] is False
    assert [e["label"] for e in tagged.json()["results"][0]["entities"]] == ["PER", "LOC"]


async def test_the_model_can_stay_in_the_server_process(tiny_forward_model: Path) -> None:
    app = create_app(settings(model=tiny_forward_model, device="cpu", model_process=False))
    async with serving(app) as client:
        described = (await client.get("/v1/models")).json()["models"][0]
        tagged = await client.post("/v1/tag", json={"text": "Mary Rossi visited Oslo ."})
    assert described["bidirectional"] is False
    assert [e["label"] for e in tagged.json()["results"][0]["entities"]] == ["PER", "LOC"]
