"""A model repository (``NER_MODEL_REPOSITORY``) behind ``bigru-ner serve`` on loopback: two
models and a twin, a model trained here on types of its own, a broken version and a broken
model; ``GET /v1/models``, the ``model`` field, unknown names, and comparing per model."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.support import bigru_ner_serve

TEXT = "Take 50 mg of Aspirin daily ."


@pytest.fixture(scope="module")
def repository(
    tiny_model: Path,
    tiny_forward_model: Path,
    drugs_model: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """news (version 1; version 2 is broken) with its twin news-forward, drugs at version 3,
    a model whose only version is broken, and a directory without versions."""
    root = tmp_path_factory.mktemp("repository")
    shutil.copytree(tiny_model, root / "news" / "1")
    (root / "news" / "2").mkdir()
    (root / "news" / "2" / "config.json").write_text("{", encoding="utf-8")
    (root / "news" / "model.json").write_text('{"twin": "news-forward"}', encoding="utf-8")
    shutil.copytree(tiny_forward_model, root / "news-forward" / "1")
    shutil.copytree(drugs_model, root / "drugs" / "3")
    shutil.copytree(tiny_model, root / "broken" / "1")
    (root / "broken" / "1" / "weights.safetensors").write_bytes(b"not weights")
    (root / "notes").mkdir()
    return root


@pytest.fixture(scope="module")
def url(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "NER_MODEL_REPOSITORY": str(repository),
        "NER_DEFAULT_MODEL": "news",
        "NER_MODEL_WORKERS": "0",
        "NER_DEVICE": "cpu",
    }
    log = tmp_path_factory.mktemp("repository-service") / "service.log"
    with bigru_ner_serve(env, log) as served:
        yield served


def test_every_model_is_listed_with_its_version_state_and_twin(url: str) -> None:
    listed = httpx.get(url + "/v1/models").json()["models"]
    assert [m["name"] for m in listed] == ["news", "broken", "drugs", "news-forward"]
    by_name = {m["name"]: m for m in listed}
    assert by_name["news"] | {"labels": None} == {
        "name": "news",
        "version": 1,  # version 2 does not load: the highest that does serves
        "state": "ready",
        "reason": None,
        "default": True,
        "twin": "news-forward",
        "labels": None,
        "bidirectional": True,
        "parameters": by_name["news"]["parameters"],
        "device": "cpu",
    }
    assert (by_name["drugs"]["version"], by_name["drugs"]["labels"]) == (3, ["DOSE", "DRUG"])
    assert by_name["news-forward"]["bidirectional"] is False
    broken = by_name["broken"]
    assert (broken["state"], broken["version"], broken["labels"]) == ("failed", None, None)
    assert "weights.safetensors" in broken["reason"]
    assert httpx.get(url + "/readyz").status_code == 200  # a failed model is not the default


def test_a_request_names_its_model_and_gets_that_models_labels(url: str) -> None:
    drugs = httpx.post(url + "/v1/tag", json={"text": TEXT, "model": "drugs"}).json()
    assert drugs["model"] == "drugs"
    found = {(e["text"], e["label"]) for e in drugs["results"][0]["entities"]}
    assert ("Aspirin", "DRUG") in found
    default = httpx.post(url + "/v1/tag", json={"text": "Mary Rossi visited Oslo ."}).json()
    assert default["model"] == "news"
    assert {e["label"] for e in default["results"][0]["entities"]} <= {"PER", "LOC", "ORG"}


def test_an_unknown_or_failed_model_is_refused_with_the_names(url: str) -> None:
    unknown = httpx.post(url + "/v1/tag", json={"text": TEXT, "model": "nope"})
    assert unknown.status_code == 404
    error = unknown.json()["error"]
    assert error["code"] == "model_not_found"
    assert "broken, drugs, news, news-forward" in error["message"]
    failed = httpx.post(url + "/v1/tag", json={"text": TEXT, "model": "broken"})
    assert (failed.status_code, failed.json()["error"]["code"]) == (503, "not_ready")
    assert "failed" in failed.json()["error"]["message"]


def test_compare_sets_a_model_against_its_own_twin_or_says_it_has_none(url: str) -> None:
    compared = httpx.post(url + "/v1/compare", json={"text": "Mary Rossi visited Oslo ."})
    assert compared.status_code == 200, compared.text
    assert compared.json()["models"] == {"forward": "news-forward", "bidirectional": "news"}
    alone = httpx.post(url + "/v1/compare", json={"text": TEXT, "model": "drugs"})
    assert (alone.status_code, alone.json()["error"]["code"]) == (404, "compare_disabled")
    assert "'drugs' has no forward-only twin" in alone.json()["error"]["message"]


def test_each_model_is_named_with_its_version_in_the_info_metric(url: str) -> None:
    page = httpx.get(url + "/metrics").text
    assert 'ner_model_info{bidirectional="true",device="cpu",model="drugs",version="3"} 1.0' in page
    assert 'model="news",version="1"' in page
    assert 'ner_model_info{bidirectional="true",device="cpu",model="broken"' not in page
    # Start-up's loads counted too: news at version 1 after version 2 was refused.
    assert 'ner_model_loads_total{model="news",outcome="refused"} 1.0' in page
    assert 'ner_model_loads_total{model="news",outcome="served"} 1.0' in page
    assert 'ner_model_loads_total{model="broken",outcome="refused"} 1.0' in page
