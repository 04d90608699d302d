import json
from pathlib import Path

import pytest

from model.cli import main
from model.tagger import Tagger


@pytest.fixture(scope="module")
def tagger(tiny_model: Path) -> Tagger:
    return Tagger.load(tiny_model)


def test_raw_text_entities_have_valid_offsets(tagger: Tagger) -> None:
    text = "Mary Rossi visited Oslo on Monday.  Acme Corp hired Kofi Berg in Lima."
    (result,) = tagger.tag([text])
    found = [(e.label, e.text) for e in result.entities]
    assert found == [
        ("PER", "Mary Rossi"),
        ("LOC", "Oslo"),
        ("ORG", "Acme Corp"),
        ("PER", "Kofi Berg"),
        ("LOC", "Lima"),
    ]
    for entity in result.entities:
        assert text[entity.start : entity.end] == entity.text
        assert 0.0 < entity.score <= 1.0
    for token in result.tokens:
        assert text[token.start : token.end] == token.text


def test_texts_come_back_in_order_and_empty_text_has_no_tokens(tagger: Tagger) -> None:
    texts = ["Kofi Berg visited Perth .", "", "   ", "The weather in Cairo was cold ."]
    results = tagger.tag(texts)
    assert len(results) == 4
    assert [e.text for e in results[0].entities] == ["Kofi Berg", "Perth"]
    assert results[1].tokens == [] and results[2].tokens == []
    assert [e.text for e in results[3].entities] == ["Cairo"]


def test_pretokenized_offsets_are_token_indices(tagger: Tagger) -> None:
    (result,) = tagger.tag_tokens([["In", "Lima", ",", "Olga", "Berg", "met", "Initech", "."]])
    spans = [(e.label, e.start, e.end, e.text) for e in result.entities]
    assert spans == [("LOC", 1, 2, "Lima"), ("PER", 3, 5, "Olga Berg"), ("ORG", 6, 7, "Initech")]


def test_tag_command_prints_entities(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tag", "--model", str(tiny_model), "Mary", "Rossi", "visited", "Oslo", "."]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split("\t")[2:4] for ln in lines] == [["PER", "Mary Rossi"], ["LOC", "Oslo"]]


def test_tag_command_streams_jsonl(tiny_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    texts = [f"{name} Smith visited Paris ." for name in ["John", "Mary", "Olga"]] * 5
    source.write_text("\n".join(json.dumps({"text": t}) for t in texts) + "\n")
    out = tmp_path / "out.jsonl"
    args = ["tag", "--model", str(tiny_model), "--input", str(source), "--output", str(out)]
    assert main([*args, "--batch-size", "4"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in records] == texts
    for record in records:
        labels = [e["label"] for e in record["entities"]]
        assert labels == ["PER", "LOC"]
        for e in record["entities"]:
            assert record["text"][e["start"] : e["end"]] == e["text"]


def test_tag_command_rejects_bad_jsonl_line(tiny_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "fine"}\n{broken\n')
    out = tmp_path / "out.jsonl"
    main(["tag", "--model", str(tiny_model), "--input", str(source), "--output", str(out)])
    rejects = (tmp_path / "out.rejects.jsonl").read_text().splitlines()
    (reject,) = [json.loads(line) for line in rejects]
    assert reject["source"] == "in.jsonl:2"
