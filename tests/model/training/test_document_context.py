"""scripts/document_context.py: the two probes of document context, on hand-made documents,
and the script end to end on the tiny model."""

import runpy
import sys
from pathlib import Path

import pytest

from model.data import Sentence
from model.pipeline import Prediction

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "document_context.py"
probe = runpy.run_path(str(SCRIPT))


def sentence(text: str) -> Sentence:
    tokens = text.split()
    return Sentence(tokens, ["O"] * len(tokens))


def test_how_a_sentence_is_written() -> None:
    assert probe["writing"](["JAPAN", "WIN", "2-1"]) == "upper"
    assert probe["writing"](["japan", "win", "2-1"]) == "lower"
    assert probe["writing"](["Japan", "win"]) == "mixed"
    assert probe["writing"](["2-1", "."]) == "none"


def test_headlines_take_the_spellings_of_the_mixed_sentences_past_their_first_word() -> None:
    document = [
        sentence("JAPAN BEAT CHINA IN ASIAN CUP"),
        sentence("Japan beat China on Sunday ."),
        sentence("China lost to Japan in the Asian Cup , as in ASIAN games ."),
        sentence("in asia"),
    ]
    headline, body, other, lower = probe["truecased"](document)
    # "ASIAN" once against "Asian" once in the mixed sentences: the first seen wins
    assert headline.tokens == ["Japan", "beat", "China", "in", "Asian", "Cup"]
    assert headline.tags == document[0].tags
    assert (body, other, lower) == tuple(document[1:])
    *_, rewritten = probe["truecased"](document, ("upper", "lower"))
    assert rewritten.tokens == ["in", "asia"]  # "asia" never appears in a mixed sentence


def test_votes_relabel_each_entity_as_its_words_are_mostly_labelled_weighted_by_score() -> None:
    document = [sentence("Leeds beat Hull"), sentence("LEEDS won"), sentence("New York Leeds")]
    predictions = [
        Prediction(["B-ORG", "O", "B-ORG"], [0.5, 1, 0.9]),
        Prediction(["B-LOC", "O"], [0.9, 1]),
        Prediction(["B-LOC", "I-LOC", "B-ORG"], [0.8, 0.6, 0.3]),
    ]
    # leeds: ORG 0.5 + 0.3 against LOC 0.9, so LOC everywhere; the others stay as they are
    assert probe["voted"](document, predictions) == [
        ["B-LOC", "O", "B-ORG"],
        ["B-LOC", "O"],
        ["B-LOC", "I-LOC", "B-LOC"],
    ]


def test_the_script_reports_each_model_on_the_documents_of_a_file(
    corpus: dict[str, Path],
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = corpus["dev"].read_text(encoding="utf-8")
    data = tmp_path / "docs.conll"
    data.write_text("-DOCSTART- -X- O\n\n" + text + "\n-DOCSTART- -X- O\n\n" + text, "utf-8")
    monkeypatch.setattr(sys, "argv", ["document_context.py", "--data", str(data), str(tiny_model)])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{data}: 2 documents, ")
    (row,) = [line for line in lines if line.startswith(f"| {tiny_model} |")]
    assert len(row.split("|")) == 7
