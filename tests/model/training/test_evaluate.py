import json
from pathlib import Path

import pytest

from model.artifact import load
from model.cli import main
from model.data import read_conll, recase
from model.training.evaluate import evaluate, parse_label_map, relabel, score


def test_scores_follow_conlleval_entity_rules() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    # PER exact, LOC missed, ORG predicted with the wrong type, one spurious PER.
    pred = [["B-PER", "I-PER", "O", "O"], ["B-LOC", "B-PER"]]
    scores = score(gold, pred)
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 3)
    assert scores.f1 == pytest.approx(1 / 3)
    assert scores.token_accuracy == pytest.approx(3 / 6)
    assert scores.per_type["PER"].precision == pytest.approx(0.5)
    assert scores.per_type["PER"].recall == 1.0
    assert scores.per_type["LOC"].support == 1
    assert scores.per_type["ORG"].recall == 0.0


def test_partial_span_is_not_a_match() -> None:
    scores = score([["B-PER", "I-PER"]], [["B-PER", "O"]])
    assert scores.f1 == 0.0


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        score([["O", "O"]], [["O"]])


def test_evaluate_command_prints_json_and_predictions(
    corpus: dict[str, Path], tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    predictions = tmp_path / "pred.txt"
    args = ["--model", str(tiny_model), "--data", str(corpus["dev"])]
    assert main(["evaluate", *args, "--json", "--predictions", str(predictions)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.9 < result["f1"] <= 1.0
    assert {"precision", "recall", "f1", "per_type", "token_accuracy"} <= set(result)
    assert set(result["per_type"]) == {"PER", "LOC", "ORG"}
    blocks = predictions.read_text().strip("\n").split("\n\n")
    assert len(blocks) == result["sentences"]
    gold_lines = [
        ln for ln in corpus["dev"].read_text().splitlines() if ln and "DOCSTART" not in ln
    ]
    pred_lines = [ln for ln in predictions.read_text().splitlines() if ln]
    assert len(pred_lines) == len(gold_lines)
    for gold, line in zip(gold_lines, pred_lines, strict=True):
        token, gold_tag, predicted = line.split(" ")
        assert (token, gold_tag) == (gold.split()[0], gold.split()[-1])
        assert predicted == "O" or predicted[:2] in ("B-", "I-")


def test_evaluate_command_rewrites_the_case_first(
    corpus: dict[str, Path], tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    predictions = tmp_path / "pred.txt"
    args = ["--model", str(tiny_model), "--data", str(corpus["dev"]), "--json"]
    assert main(["evaluate", *args, "--case", "upper", "--predictions", str(predictions)]) == 0
    upper = json.loads(capsys.readouterr().out)
    tokens = [line.split(" ")[0] for line in predictions.read_text().splitlines() if line]
    assert tokens and all(t == t.upper() for t in tokens)
    assert any(t != t.lower() for t in tokens)
    loaded = load(tiny_model)
    expected = evaluate(loaded, recase(read_conll(corpus["dev"]), "upper"))
    assert upper["f1"] == pytest.approx(expected.f1)
    with pytest.raises(SystemExit):
        main(["evaluate", *args, "--case", "title"])


def test_relabel_renames_types_and_drops_the_unnamed() -> None:
    tags = ["B-person", "I-person", "O", "B-product", "B-group", "I-group"]
    mapping = {"person": "PER", "group": "ORG"}
    assert relabel(tags, mapping) == ["B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG"]
    assert parse_label_map(" person=PER, group = ORG ,") == mapping
    with pytest.raises(ValueError, match="TYPE=TYPE"):
        parse_label_map("person:PER")


def test_evaluate_command_scores_other_entity_types_through_a_label_map(
    corpus: dict[str, Path], tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The dev file with WNUT-17's names for the types.
    names = {"PER": "person", "LOC": "location", "ORG": "corporation"}
    renamed = tmp_path / "renamed.conll"
    lines = []
    for line in corpus["dev"].read_text().splitlines():
        token, _, tag = line.rpartition(" ")
        prefix, _, kind = tag.partition("-")
        lines.append(f"{token}\t{prefix}-{names[kind]}" if kind in names else line)
    renamed.write_text("\n".join(lines) + "\n")
    model = ["--model", str(tiny_model), "--json"]
    assert main(["evaluate", *model, "--data", str(corpus["dev"])]) == 0
    original = json.loads(capsys.readouterr().out)
    full = "person=PER,location=LOC,corporation=ORG"
    assert main(["evaluate", *model, "--data", str(renamed), "--label-map", full]) == 0
    assert json.loads(capsys.readouterr().out) == original
    # Organisations left out: the gold ones and the model's count as O.
    partial = "person=PER,location=LOC"
    assert main(["evaluate", *model, "--data", str(renamed), "--label-map", partial]) == 0
    without = json.loads(capsys.readouterr().out)
    assert set(without["per_type"]) == {"PER", "LOC"}
    assert without["per_type"]["PER"] == original["per_type"]["PER"]
    assert main(["evaluate", *model, "--data", str(renamed), "--label-map", "person"]) == 2
    assert "--label-map" in capsys.readouterr().err
