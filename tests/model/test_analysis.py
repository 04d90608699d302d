"""``bigru-ner analyze``: the comparison's numbers agree with each other and with evaluate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from model.analysis import analyze
from model.artifact import load
from model.cli import main
from model.data import read_conll, recase, tags_to_spans
from model.evaluate import evaluate
from model.pairs import load_pairs
from model.report import F1_PLOT, FOLLOWING_PLOT, JSON_FILE, MARKDOWN_FILE, ROLE_PLOT


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
    assert main(argv) == 0
    written = json.loads((out / JSON_FILE).read_text())
    assert written["models"] == {"forward": "model", "bidirectional": "model"}
    markdown = (out / MARKDOWN_FILE).read_text()
    f1 = written["entity_scores"]["bidirectional"]["f1"]
    assert "| entity F1 | " in markdown and f"{100 * f1:.1f}%" in markdown
    lower = written["entity_f1_by_case"]["lower"]["bidirectional"]
    assert "| entity F1, the text lower-cased | " in markdown
    assert f"{100 * lower:.1f}%" in markdown
    for plot in (F1_PLOT, ROLE_PLOT, FOLLOWING_PLOT):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({plot})" in markdown
    with pytest.raises(SystemExit, match="forward-only"):
        main([*argv[:5], "--model", str(tiny_model), "--forward-model", str(tiny_model)])
