"""scripts/summarize_runs.py on the tiny model: one column per set and case, and the other file."""

import json
import runpy
import sys
from pathlib import Path

import pytest

from model.artifact import load
from model.data import read_conll, recase
from model.training.evaluate import evaluate

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "summarize_runs.py"


def test_every_set_and_case_is_scored_as_evaluate_scores_it(
    corpus: dict[str, Path],
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "runs.json"
    argv = ["summarize_runs.py", str(tiny_model), str(tiny_model), "--json", str(out)]
    argv += ["--dev", str(corpus["dev"]), "--test", str(corpus["train"]), "--cases", "as-is,upper"]
    argv += ["--other", str(corpus["dev"]), "--label-map", "PER=PER"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(SCRIPT), run_name="__main__")
    table = capsys.readouterr().out.splitlines()
    assert table[0].endswith("| dev as-is | dev upper | test as-is | test upper | other |")
    assert len(table) == 5 and table[-1].startswith("| mean ± std |")
    rows = json.loads(out.read_text())
    loaded = load(tiny_model)
    upper = evaluate(loaded, recase(read_conll(corpus["dev"]), "upper"))
    assert rows[0]["scores"]["dev upper"]["f1"] == pytest.approx(upper.f1)
    only_people = evaluate(loaded, read_conll(corpus["dev"]), label_map={"PER": "PER"})
    assert rows[0]["scores"]["other"] == only_people.to_json()
    assert set(rows[0]["scores"]["other"]["per_type"]) == {"PER"}
