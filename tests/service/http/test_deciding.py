"""``POST /v1/compare`` with ``"deciding_words": true``: the word that decided each changed
label, on hand-made cases with stub models whose rules the tests set."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from model.pipeline import Prediction
from model.tagger import Tagger
from service.http.app import create_app
from service.http.schemas.compare import CompareResponse
from tests.service.support import StubTagger, metric, serving, settings

pytestmark = pytest.mark.anyio

#: Words that decide the label of the capitalized words before them (and their own).
CUES = {"said": "PER", "border": "LOC", "Cup": "MISC"}


def reader_tags(tokens: Sequence[str]) -> list[str]:
    """A capitalized word takes the label of the last cue at or after it; ORG without one."""
    tags = []
    for i, token in enumerate(tokens):
        if not token[:1].isupper():
            tags.append("O")
            continue
        cues = [CUES[t] for t in tokens[i:] if t in CUES]
        tags.append("B-" + (cues[-1] if cues else "ORG"))
    return tags


class Reader(StubTagger):
    """The "BiGRU": reads the whole sentence (or prefix) it is given, by :func:`reader_tags`;
    0.8 for its own tag, 0.2 for any other. Records each probabilities_of call."""

    labels = ["LOC", "MISC", "ORG", "PER"]

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[list[list[str]], list[list[str]]]] = []

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        super().tag_sentences(sentences)  # records the batch
        return [Prediction(reader_tags(s), [0.8] * len(s)) for s in sentences]

    def probabilities_of(
        self, sentences: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]
    ) -> list[Prediction]:
        self.calls.append(([list(s) for s in sentences], [list(x) for x in labels]))
        tags = [reader_tags(s) for s in sentences]
        return [
            Prediction(ts, [0.8 if t == x else 0.2 for t, x in zip(ts, xs, strict=True)])
            for ts, xs in zip(tags, labels, strict=True)
        ]


class Ahead(StubTagger):
    """The forward-only twin: every capitalized word is an ORG, whatever follows."""

    name = "stub-forward"
    bidirectional = False

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        super().tag_sentences(sentences)
        return [
            Prediction(["B-ORG" if t[:1].isupper() else "O" for t in s], [0.6] * len(s))
            for s in sentences
        ]


async def _compare(body: dict[str, object], **limits: int) -> tuple[int, bytes, Reader, str]:
    reader = Reader()
    app = create_app(settings(**limits), reader, Ahead())
    async with serving(app) as client:
        answer = await client.post("/v1/compare", json=body)
        metrics = (await client.get("/metrics")).text
    return answer.status_code, answer.content, reader, metrics


async def test_the_deciding_word_of_each_changed_token() -> None:
    text = "Jordan said the border was closed . Fans of World Cup winners ."
    status, content, reader, metrics = await _compare({"text": text, "deciding_words": True})
    assert status == 200, content
    (result,) = CompareResponse.model_validate_json(content).results
    changed = {i: t for i, t in enumerate(result.tokens) if t.changed}
    assert {t.text: t.bidirectional.tag for t in changed.values()} == {
        "Jordan": "B-LOC",
        "Fans": "B-MISC",
        "World": "B-MISC",
        "Cup": "B-MISC",
    }
    jordan, fans, world, cup = (changed[i].deciding for i in sorted(changed))
    assert jordan is not None and fans is not None and world is not None and cup is not None
    # PER once "said" arrives, LOC for good from "border" on.
    assert (jordan.index, jordan.text, jordan.distance) == (3, "border", 3)
    assert text[jordan.start : jordan.end] == "border"
    assert [s.tag for s in jordan.prefixes] == ["B-ORG", "B-PER", "B-PER"] + ["B-LOC"] * 4
    assert [s.probability for s in jordan.prefixes] == [0.2, 0.2, 0.2] + [0.8] * 4
    assert [s.through for s in jordan.prefixes] == list(range(0, 7))
    # Indices count through the whole text: the second sentence starts at token 7.
    assert (fans.index, fans.text, fans.distance) == (10, "Cup", 3)
    assert (world.index, world.text, world.distance) == (10, "Cup", 1)
    assert text[world.start : world.end] == "Cup"
    assert (cup.index, cup.distance) == (10, 0)  # a cue decides its own label
    assert [s.through for s in world.prefixes] == [9, 10, 11, 12]
    assert all(t.deciding is None for t in result.tokens if not t.changed)
    # One model call for all the prefixes of both sentences: those from each first changed
    # token to the word before the sentence's end.
    ((prefixes, labels),) = reader.calls
    assert [len(p) for p in prefixes] == [1, 2, 3, 4, 5, 6] + [1, 2, 3, 4, 5]
    assert labels[0] == ["B-LOC"] and labels[-1] == ["B-MISC", "O", "B-MISC", "B-MISC", "O"]
    assert metric(metrics, "ner_deciding_distance_words_count") == 4
    assert metric(metrics, "ner_deciding_distance_words_sum") == 7
    assert metric(metrics, "ner_deciding_distance_words_bucket", le="0.0") == 1


async def test_token_lists_and_several_inputs_get_their_own_indices() -> None:
    tokens = [["a", "Jordan", "said"], ["no", "change", "here"], ["Ann", "border"]]
    status, content, reader, _ = await _compare({"tokens": tokens, "deciding_words": True})
    assert status == 200, content
    first, second, third = CompareResponse.model_validate_json(content).results
    assert first.tokens[1].deciding is not None and first.tokens[1].deciding.index == 2
    assert (first.tokens[1].deciding.start, first.tokens[1].deciding.end) == (2, 3)
    assert second.changed == 0
    assert third.tokens[0].deciding is not None and third.tokens[0].deciding.text == "border"
    ((prefixes, _),) = reader.calls
    assert prefixes == [["a", "Jordan"], ["Ann"]]


async def test_without_changes_there_is_no_extra_call() -> None:
    status, content, reader, _ = await _compare({"text": "Ann met Bo .", "deciding_words": True})
    assert status == 200 and reader.calls == []
    assert b'"deciding"' not in content


async def test_the_option_off_leaves_the_answer_and_its_cost_as_they_were() -> None:
    text = "Jordan said the border was closed ."
    plain = await _compare({"text": text})
    off = await _compare({"text": text, "deciding_words": False})
    on = await _compare({"text": text, "deciding_words": True})
    assert plain[0] == off[0] == on[0] == 200
    assert plain[1] == off[1]  # byte for byte
    assert plain[2].calls == off[2].calls == [] and len(on[2].calls) == 1
    assert len(plain[2].batches) == len(on[2].batches) == 1
    # Every token has exactly the fields it had before the option existed, in their order.
    for token in json.loads(plain[1])["results"][0]["tokens"]:
        assert list(token) == ["text", "start", "end", "forward", "bidirectional", "changed"]
    assert json.loads(plain[1])["results"][0]["changed"] == 1
    assert json.loads(on[1])["results"][0]["tokens"][0]["deciding"]["text"] == "border"
    assert metric(plain[3], "ner_deciding_distance_words_count") == 0


async def test_a_sentence_too_long_is_refused_before_any_model_work() -> None:
    body = {"texts": ["Ann left .", "Jordan said the border was closed ."], "deciding_words": True}
    status, content, reader, _ = await _compare(body, deciding_max_sentence_tokens=5)
    assert status == 413
    error = json.loads(content)["error"]
    assert error["code"] == "sentence_too_long"
    assert "input 1" in error["message"] and "7 tokens" in error["message"]
    assert reader.batches == [] and reader.calls == []
    # Without the option the same request is served.
    assert (await _compare({"texts": body["texts"]}, deciding_max_sentence_tokens=5))[0] == 200


async def test_prefixes_over_the_budget_are_refused() -> None:
    body = {"text": "Jordan said the border was closed .", "deciding_words": True}
    status, content, reader, _ = await _compare(body, deciding_max_tokens=35)
    assert status == 413
    error = json.loads(content)["error"]
    assert error["code"] == "deciding_too_costly" and "36 padded prefix tokens" in error["message"]
    assert reader.calls == []
    assert (await _compare(body, deciding_max_tokens=36))[0] == 200


async def test_a_failing_prefix_call_is_a_500_that_says_so() -> None:
    class Failing(Reader):
        def probabilities_of(
            self, sentences: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]
        ) -> list[Prediction]:
            raise RuntimeError("out of memory")

    app = create_app(settings(), Failing(), Ahead())
    async with serving(app) as client:
        body = {"text": "Jordan said so .", "deciding_words": True}
        answer = await client.post("/v1/compare", json=body)
        again = await client.post("/v1/compare", json={"text": "Jordan said so ."})
    assert (answer.status_code, answer.json()["error"]["code"]) == (500, "inference_failed")
    assert again.status_code == 200


async def test_changes_are_counted_per_label() -> None:
    text = "Jordan said the border was closed . Fans of World Cup winners ."
    *_, metrics = await _compare({"text": text})
    assert metric(metrics, "ner_backward_changes_total", label="LOC") == 1
    assert metric(metrics, "ner_backward_changes_total", label="MISC") == 3
    assert metric(metrics, "ner_compared_tokens_total", label="MISC") == 3
    assert metric(metrics, "ner_compared_tokens_total", label="O") == 9
    # Every label's series exists from the start, so that its share has data at once.
    assert 'ner_backward_changes_total{label="PER"} 0.0' in metrics
    assert 'ner_backward_changes_total{label="ORG"} 0.0' in metrics


async def test_with_a_real_bigru_every_changed_token_gets_its_deciding_word(
    tiny_tagger: Tagger, tiny_forward_tagger: Tagger
) -> None:
    texts = ["Mary Rossi visited Oslo on Monday .", "In Lima , Olga Berg met Initech ."]
    texts += ["Shares of Acme Corp rose , said Chen Tanaka in Perth ."]
    app = create_app(settings(), tiny_tagger, tiny_forward_tagger)
    async with serving(app) as client:
        answer = await client.post("/v1/compare", json={"texts": texts, "deciding_words": True})
    assert answer.status_code == 200, answer.text
    for result in CompareResponse.model_validate_json(answer.content).results:
        for i, token in enumerate(result.tokens):
            if not token.changed:
                assert token.deciding is None
                continue
            decided = token.deciding
            assert decided is not None and decided.index >= i
            assert decided.distance == decided.index - i
            assert result.tokens[decided.index].text == decided.text
            last = decided.prefixes[-1]
            assert last.tag == token.bidirectional.tag
            assert last.probability == pytest.approx(token.bidirectional.score)
            assert all(s.tag == last.tag for s in decided.prefixes if s.through >= decided.index)


async def test_openapi_documents_the_option_its_answer_and_limits() -> None:
    async with serving(create_app(settings(), Reader(), Ahead())) as client:
        schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/compare"]["post"]
    body = operation["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/CompareRequest"}
    assert body["examples"]["deciding_words"]["value"]["deciding_words"] is True
    option = schema["components"]["schemas"]["CompareRequest"]["properties"]["deciding_words"]
    assert option["default"] is False
    assert "NER_DECIDING_MAX_SENTENCE_TOKENS" in option["description"]
    limits = operation["responses"]["413"]["description"]
    assert "sentence_too_long" in limits and "deciding_too_costly" in limits
    components = schema["components"]["schemas"]
    token = components["ComparedToken"]
    assert "deciding" in token["properties"] and "deciding" not in token.get("required", [])
    assert {"index", "start", "end", "distance", "prefixes"} <= set(
        components["DecidingWord"]["required"]
    )
    (example,) = components["CompareResponse"]["examples"]
    CompareResponse.model_validate(example)  # the documented answer is a valid one
    # /v1/tag takes no such option.
    tag = schema["paths"]["/v1/tag"]["post"]["requestBody"]["content"]["application/json"]
    assert tag["schema"] == {"$ref": "#/components/schemas/TagRequest"}


async def test_tag_refuses_the_option_and_compare_checks_its_type() -> None:
    async with serving(create_app(settings(), Reader(), Ahead())) as client:
        tagged = await client.post("/v1/tag", json={"text": "Ann", "deciding_words": True})
        typed = await client.post("/v1/compare", json={"text": "Ann", "deciding_words": "maybe"})
    assert (tagged.status_code, tagged.json()["error"]["code"]) == (422, "invalid_request")
    assert "deciding_words" in tagged.json()["error"]["message"]
    assert (typed.status_code, typed.json()["error"]["code"]) == (422, "invalid_request")
