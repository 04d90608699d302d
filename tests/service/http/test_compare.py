"""``POST /v1/compare``: both models through their batchers, side by side; off, errors, metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from model.artifact import ArtifactError
from model.pipeline import Prediction
from model.tagger import Tagger
from service.http.app import create_app
from service.http.schemas.compare import CompareResponse
from tests.service.http.test_tag import BAD_REQUESTS, limited
from tests.service.support import StubTagger, metric, serving, settings, total

pytestmark = pytest.mark.anyio


class LeftToRight(StubTagger):
    """A forward-only stub: a capitalized token is a PER entity only when it opens the text."""

    name = "stub-forward"
    bidirectional = False

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        return [
            Prediction([t if i == 0 else "O" for i, t in enumerate(p.tags)], p.scores)
            for p in super().tag_sentences(sentences)
        ]


async def test_each_token_gets_both_models_tags_and_whether_they_differ(
    tiny_tagger: Tagger, tiny_forward_tagger: Tagger
) -> None:
    texts = ["Mary Rossi visited Oslo on Monday .", "In Lima , Olga Berg met Initech ."]
    app = create_app(settings(), tiny_tagger, tiny_forward_tagger)
    async with serving(app) as client:
        compared = await client.post("/v1/compare", json={"texts": texts})
        tagged = await client.post("/v1/tag", json={"texts": texts})
        metrics = (await client.get("/metrics")).text
    assert compared.status_code == 200, compared.text
    body = CompareResponse.model_validate_json(compared.content)
    assert (body.models.forward, body.models.bidirectional, body.device) == (
        "forward-model",
        "model",
        "cpu",
    )
    forward = tiny_forward_tagger.tag_sentences([t.split() for t in texts])
    forward_tags = [p.tags for p in forward]
    for text, result, alone, left in zip(
        texts, body.results, tagged.json()["results"], forward_tags, strict=True
    ):
        assert [t.text for t in result.tokens] == text.split()
        assert [t.bidirectional.tag for t in result.tokens] == [t["tag"] for t in alone["tokens"]]
        assert [t.forward.tag for t in result.tokens] == left
        assert [t.changed for t in result.tokens] == [
            t.forward.tag != t.bidirectional.tag for t in result.tokens
        ]
        assert result.changed == sum(t.changed for t in result.tokens)
        assert [asdict(e) for e in result.entities.bidirectional] == alone["entities"]
        for token in result.tokens:
            assert text[token.start : token.end] == token.text
    tokens = sum(len(t.split()) for t in texts)
    assert total(metrics, "ner_compared_tokens_total") == tokens
    assert total(metrics, "ner_backward_changes_total") == sum(r.changed for r in body.results)


async def test_both_models_go_through_their_batchers(stub: StubTagger) -> None:
    forward = LeftToRight()
    texts = ["Paris Hilton arrived", "Then Paris Hilton left"]
    async with serving(create_app(settings(max_wait_ms=50), stub, forward)) as client:
        answer = (await client.post("/v1/compare", json={"texts": texts})).json()
        metrics = (await client.get("/metrics")).text
    # Each model got both sentences in one batch of its own.
    assert sorted(map(sorted, stub.batches)) == sorted(map(sorted, forward.batches))
    assert [len(b) for b in stub.batches] == [2]
    first, second = answer["results"]
    assert [t["changed"] for t in first["tokens"]] == [False, True, False]
    assert [t["forward"]["tag"] for t in second["tokens"]] == ["B-PER", "O", "O", "O"]
    assert [t["bidirectional"]["tag"] for t in second["tokens"]] == ["B-PER", "I-PER", "I-PER", "O"]
    assert [e["text"] for e in second["entities"]["forward"]] == ["Then"]
    assert [e["text"] for e in second["entities"]["bidirectional"]] == ["Then Paris Hilton"]
    assert total(metrics, "ner_backward_changes_total") == 3
    assert total(metrics, "ner_compared_tokens_total") == 7
    assert metric(metrics, "ner_backward_changes_total", label="PER") == 3
    assert metric(metrics, "ner_batch_size_count") == 2  # a batch per model


async def test_turned_off_compare_answers_404_and_tag_still_serves(stub: StubTagger) -> None:
    async with serving(create_app(settings(), stub)) as client:
        refused = await client.post("/v1/compare", json={"text": "Mary left"})
        tagged = await client.post("/v1/tag", json={"text": "Mary left"})
        ready = await client.get("/readyz")
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "compare_disabled"
    assert "NER_FORWARD_MODEL" in refused.json()["error"]["message"]
    assert tagged.status_code == 200 and ready.status_code == 200


@pytest.mark.parametrize(("request_args", "status", "code"), BAD_REQUESTS)
async def test_bad_requests_get_the_same_4xx_as_tag(
    stub: StubTagger, request_args: dict[str, Any], status: int, code: str
) -> None:
    forward = LeftToRight()
    async with serving(create_app(limited(), stub, forward)) as client:
        response = await client.post("/v1/compare", **request_args)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert stub.batches == [] and forward.batches == []


async def test_readiness_needs_both_models(stub: StubTagger) -> None:
    app = create_app(settings(), stub, LeftToRight())
    async with serving(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        await app.state.service.served["stub-forward"].batcher.stop()
        unready = await client.get("/readyz")
        refused = await client.post("/v1/compare", json={"text": "Mary left"})
    assert unready.status_code == 503
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "not_ready")


async def test_a_bidirectional_forward_model_stops_start_up(stub: StubTagger) -> None:
    both_ways = StubTagger()
    both_ways.name = "both-ways"  # type: ignore[misc]
    app = create_app(settings(), stub, both_ways)
    with pytest.raises(ArtifactError, match="NER_FORWARD_MODEL: both-ways is bidirectional"):
        async with serving(app):
            pass


async def test_loads_the_forward_model_named_in_settings(
    tiny_model: Path, tiny_forward_model: Path
) -> None:
    app = create_app(settings(model=tiny_model, forward_model=tiny_forward_model, device="cpu"))
    async with serving(app) as client:
        answer = await client.post("/v1/compare", json={"text": "Mary Rossi visited Oslo ."})
    assert answer.status_code == 200
    entities = answer.json()["results"][0]["entities"]["forward"]
    assert [e["label"] for e in entities] == ["PER", "LOC"]


async def test_openapi_describes_compare(stub: StubTagger) -> None:
    async with serving(create_app(settings(), stub, LeftToRight())) as client:
        schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/compare"]["post"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/CompareResponse"}
    assert {"404", "413", "415", "422", "429", "503"} <= operation["responses"].keys()
    token = schema["components"]["schemas"]["ComparedToken"]["properties"]
    assert {"forward", "bidirectional", "changed"} <= token.keys()


async def test_the_page_and_its_files_are_served(stub: StubTagger) -> None:
    async with serving(create_app(settings(), stub)) as client:
        page = await client.get("/")
        script = await client.get("/static/page.js")
        missing = await client.get("/static/nothing.js")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="static/page.js"' in page.text
    assert script.status_code == 200 and "v1/compare" in script.text
    assert missing.status_code == 404
