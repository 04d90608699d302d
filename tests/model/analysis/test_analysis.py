"""``bigru-ner analyze``: the comparison's numbers agree with each other and with evaluate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from model.analysis import deciding_words as deciding_module
from model.analysis.accuracy import Token
from model.analysis.analyze import analyze
from model.analysis.deciding_words import deciding_words, find_deciding
from model.analysis.pairs import load_pairs
from model.analysis.report import (
    DECIDING_PLOT,
    F1_PLOT,
    FOLLOWING_PLOT,
    JSON_FILE,
    MARKDOWN_FILE,
    ROLE_PLOT,
)
from model.artifact import load
from model.cli import main
from model.data import Sentence, read_conll, recase
from model.deciding import Deciding, Question
from model.features import tag_sentences
from model.pipeline import tags_to_spans
from model.training.evaluate import evaluate


@pytest.fixture(scope="module")
def report(corpus: dict[str, Path], tiny_model: Path, tiny_forward_model: Path) -> dict[str, Any]:
    sentences = read_conll(corpus["dev"])
    return analyze(sentences, load(tiny_forward_model), load(tiny_model), load_pairs())


def test_entity_scores_are_those_of_evaluate(
    report: dict[str, Any], corpus: dict[str, Path], tiny_model: Path, tiny_forward_model: Path
) -> None:
    sentences = read_conll(corpus["dev"])
    for model, path in (("bidirectional", tiny_model), ("forward", tiny_forward_model)):
        expected = evaluate(load(path), sentences)
        assert report["entity_scores"][model] == expected.to_json()
        assert report["token_accuracy"][model] == pytest.approx(expected.token_accuracy)
        for case in ("lower", "upper"):
            recased = evaluate(load(path), recase(sentences, case))
            assert report["entity_f1_by_case"][case][model] == pytest.approx(recased.f1)


def test_counts_add_up(report: dict[str, Any], corpus: dict[str, Path]) -> None:
    sentences = read_conll(corpus["dev"])
    tokens = sum(len(s.tokens) for s in sentences)
    assert report["data"] == {"sentences": len(sentences), "tokens": tokens}
    roles = report["by_role"]
    assert sum(roles[r]["tokens"] for r in "BIO") == tokens
    assert roles["B"]["tokens"] == sum(len(tags_to_spans(s.tags)) for s in sentences)
    multi = sum(s.end - s.start > 1 for x in sentences for s in tags_to_spans(x.tags))
    assert report["first_of_multi_token"]["tokens"] == multi
    rows = report["by_following"]
    assert sum(r["tokens"] for r in rows) == tokens
    assert sum(r["entity"]["tokens"] for r in rows) == tokens - roles["O"]["tokens"]
    # The 0 bucket holds each sentence's last token.
    assert rows[0]["following"] == "0" and rows[0]["tokens"] == len(sentences)


def test_changes_account_for_the_difference_in_right_tokens(report: dict[str, Any]) -> None:
    changes, tokens = report["changes"], report["data"]["tokens"]
    assert changes["changed"] == changes["fixed"] + changes["caused"] + changes["both_wrong"]
    right = {m: report["token_accuracy"][m] * tokens for m in ("forward", "bidirectional")}
    assert changes["fixed"] - changes["caused"] == round(right["bidirectional"] - right["forward"])
    fixed, caused = report["fixed_by_backward"], report["caused_by_backward"]
    assert sum(row["count"] for row in fixed) <= changes["fixed"]
    assert sum(row["count"] for row in caused) <= changes["caused"]
    for rows, said in ((fixed, "forward"), (caused, "bidirectional")):
        assert [r["count"] for r in rows] == sorted((r["count"] for r in rows), reverse=True)
        assert all(r["gold"] != r[said] and "[" in r["example"] for r in rows)


def test_the_forward_model_never_tells_a_pair_apart(report: dict[str, Any]) -> None:
    pairs = report["minimal_pairs"]
    assert pairs["pairs"] == len(load_pairs())
    assert pairs["forward"]["told_apart"] == 0
    # It labels each shared opening alike in both sentences, whose gold labels differ.
    assert pairs["forward"]["opening_accuracy"] <= 0.5 + 1e-9
    assert 0 <= pairs["bidirectional"]["told_apart"] <= pairs["pairs"]


def test_the_command_writes_markdown_json_and_plots(
    corpus: dict[str, Path], tiny_model: Path, tiny_forward_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    argv = ["analyze", "--data", str(corpus["dev"]), "--out", str(out)]
    argv += ["--model", str(tiny_model), "--forward-model", str(tiny_forward_model)]
    other = ["--other", str(corpus["train"]), "--label-map", "PER=PER,LOC=LOC"]
    assert main([*argv, *other]) == 0
    written = json.loads((out / JSON_FILE).read_text())
    assert written["models"] == {"forward": "forward-model", "bidirectional": "model"}
    # The other text, scored as `evaluate --label-map` scores it: only PER and LOC count.
    mapped = evaluate(
        load(tiny_model), read_conll(corpus["train"]), label_map={"PER": "PER", "LOC": "LOC"}
    )
    assert written["entity_f1_other"]["bidirectional"] == pytest.approx(mapped.f1)
    assert set(mapped.per_type) == {"PER", "LOC"}
    markdown = (out / MARKDOWN_FILE).read_text()
    f1 = written["entity_scores"]["bidirectional"]["f1"]
    assert "| entity F1 | " in markdown and f"{100 * f1:.1f}%" in markdown
    lower = written["entity_f1_by_case"]["lower"]["bidirectional"]
    assert "| entity F1, the text lower-cased | " in markdown
    assert f"{100 * lower:.1f}%" in markdown
    assert "## Which later word decided it" in markdown
    other_row = f"| entity F1, {corpus['train'].name} (its types as the models') | "
    assert other_row in markdown and "--label-map PER=PER,LOC=LOC" in markdown
    for plot in (F1_PLOT, ROLE_PLOT, FOLLOWING_PLOT, DECIDING_PLOT):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({plot})" in markdown
    with pytest.raises(SystemExit, match="forward-only"):
        main([*argv[:5], "--model", str(tiny_model), "--forward-model", str(tiny_model)])


def test_every_changed_token_has_a_deciding_word_at_or_after_it(report: dict[str, Any]) -> None:
    found = report["deciding_words"]
    assert found["changed"] == report["changes"]["changed"]
    assert sum(r["tokens"] for r in found["distance"]) == found["changed"]
    at_itself = found["distance"][0]
    assert at_itself["distance"] == "0"
    assert found["by_later_word"] == found["changed"] - at_itself["tokens"]
    for rows in found["by_type"].values():
        assert sum(r["count"] for r in rows) <= found["by_later_word"]
        assert all("[" in r["example"] and f"«{r['word']}»" in r["example"] for r in rows)


def _changed(sentence: int, index: int, forward: str, both: str) -> Token:
    return Token(sentence, index, both, forward, both, 0)


def test_deciding_words_are_counted_per_type_the_bigru_gives() -> None:
    sentences = [
        Sentence("Paris Hilton arrived".split(), ["B-PER", "I-PER", "O"]),
        Sentence("There Paris Hilton smiled".split(), ["O", "B-PER", "I-PER", "O"]),
        Sentence("The World Cup final was in Paris".split(), ["O", "B-MISC", "I-MISC"] + ["O"] * 4),
        Sentence("Jordan , who left early , said so".split(), ["B-PER"] + ["O"] * 7),
    ]
    decided = [
        (_changed(0, 0, "B-LOC", "B-PER"), Deciding(0, 1, [])),
        (_changed(1, 1, "B-LOC", "B-PER"), Deciding(1, 2, [])),
        (_changed(2, 1, "B-ORG", "B-MISC"), Deciding(1, 2, [])),
        (_changed(2, 2, "I-ORG", "I-MISC"), Deciding(2, 2, [])),  # decided at itself
        (_changed(3, 0, "B-LOC", "B-PER"), Deciding(0, 6, [])),
    ]
    found = deciding_words(sentences, decided)
    assert (found["changed"], found["by_later_word"]) == (5, 4)
    assert found["mean_distance"] == pytest.approx((1 + 1 + 1 + 0 + 6) / 5)
    counts = {r["distance"]: r["tokens"] for r in found["distance"]}
    assert counts == {"0": 1, "1": 3, "2": 0, "3": 0, "4-5": 0, "6-8": 1, "9-16": 0, "17+": 0}
    assert found["distance"][1]["share"] == pytest.approx(0.6)
    persons, others = found["by_type"]["PER"], found["by_type"]["MISC"]
    assert [(r["word"], r["count"], r["forward"]) for r in persons] == [
        ("Hilton", 2, "LOC"),
        ("said", 1, "LOC"),
    ]
    assert persons[0]["example"] == "[Paris] «Hilton» arrived"
    assert persons[1]["example"] == "[Jordan] , who left early , «said» so"
    assert [(r["word"], r["count"], r["forward"]) for r in others] == [("Cup", 1, "ORG")]
    assert others[0]["example"] == "The [World] «Cup» final …"


def test_deciding_words_are_the_same_however_the_prefixes_are_grouped(
    tiny_model: Path, corpus: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load(tiny_model)
    sentences = read_conll(corpus["dev"])[:6]
    predictions = tag_sentences(model.network, model.vocab, [s.tokens for s in sentences])
    # Any tokens may be asked about: the first and the third of each sentence.
    questions = [
        Question(s.tokens, p.tags, p.scores, [0, 2])
        for s, p in zip(sentences, predictions, strict=True)
    ]
    together = find_deciding(model, questions, torch.device("cpu"))
    monkeypatch.setattr(deciding_module, "PREFIX_BUDGET", 1)  # a call per sentence
    apart = find_deciding(model, questions, torch.device("cpu"))
    assert [[(d.token, d.word) for d in ds] for ds in together] == [
        [(d.token, d.word) for d in ds] for ds in apart
    ]
    for question, ds in zip(questions, together, strict=True):
        for d in ds:
            assert d.token <= d.word < len(question.tokens)
            assert d.steps[-1].tag == question.tags[d.token]
            assert d.steps[-1].probability == question.probabilities[d.token]


def test_the_report_of_a_pair_trained_on_types_of_its_own_from_spans(
    drugs_model: Path, drugs_forward_model: Path, tmp_path: Path
) -> None:
    data = drugs_model.parent / "dev.jsonl"  # texts with spans, as the pair was trained on
    out = tmp_path / "report"
    argv = ["analyze", "--data", str(data), "--out", str(out)]
    assert (
        main([*argv, "--model", str(drugs_model), "--forward-model", str(drugs_forward_model)]) == 0
    )
    written = json.loads((out / JSON_FILE).read_text())
    assert set(written["entity_scores"]["bidirectional"]["per_type"]) == {"DOSE", "DRUG"}
    markdown = (out / MARKDOWN_FILE).read_text()
    assert "| DRUG | " in markdown and "| DOSE | " in markdown
