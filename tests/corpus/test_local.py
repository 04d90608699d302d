"""``bigru-ner tag`` on this machine: formats, ids, pass-through, rejects, workers, progress."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model.cli import main
from model.tagger import Tagger
from tests.corpus.conftest import entities_by_id, read_jsonl, read_parts, write_jsonl


def tag(model: Path, *args: str) -> int:
    return main(["tag", "--model", str(model), "--workers", "1", *args])


def test_jsonl_ids_and_fields_pass_through_with_the_tagger_entities(
    tiny_model: Path, texts: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = [{"id": f"doc-{i}", "text": t, "lang": "en", "n": i} for i, t in enumerate(texts)]
    source = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out.jsonl"
    assert tag(tiny_model, "--input", str(source), "--output", str(out), "--tokens") == 0
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    assert all(r["lang"] == "en" and r["n"] == i for i, r in enumerate(rows))
    expected = Tagger.load(tiny_model).tag(texts)
    for row, tagged in zip(rows, expected, strict=True):
        assert [e["text"] for e in row["entities"]] == [e.text for e in tagged.entities]
        assert [t["tag"] for t in row["tokens"]] == [t.tag for t in tagged.tokens]
        for e in row["entities"]:
            assert row["text"][e["start"] : e["end"]] == e["text"]
            assert set(e) == {"text", "label", "start", "end", "score"}
    assert not (tmp_path / "out.jsonl.parts").exists()
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert summary.startswith("bigru-ner tag: 300 records tagged, 0 rejected")


def test_text_lines_in_parquet_out_with_ids_by_line(
    tiny_model: Path, texts: list[str], tmp_path: Path
) -> None:
    source = tmp_path / "news.txt"
    source.write_text("\n".join(texts[:50]) + "\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    assert tag(tiny_model, "--input", str(source), "--output", str(out)) == 0
    rows = pq.read_table(out).to_pylist()
    assert [r["id"] for r in rows] == [f"news.txt:{n}" for n in range(1, 51)]
    assert [r["text"] for r in rows] == texts[:50]
    assert rows[0]["entities"] and set(rows[0]["entities"][0]) >= {"label", "start", "end"}


def test_parquet_in_with_another_text_column_jsonl_directory_out(
    tiny_model: Path, texts: list[str], tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    table = pa.table({"body": texts[:40], "key": list(range(40))})
    pq.write_table(table, source, row_group_size=15)
    out = tmp_path / "out"
    args = ["--input", str(source), "--output", str(out), "--text-field", "body"]
    assert tag(tiny_model, *args, "--id-field", "key") == 0
    rows = read_parts(out)
    assert len(list(out.glob("part-*.jsonl"))) == 3  # one shard a row group
    assert [r["id"] for r in rows] == list(range(40))
    assert [r["body"] for r in rows] == texts[:40]


def test_bad_records_go_to_rejects_with_their_reason_and_the_run_goes_on(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.jsonl"
    lines = [
        '{"id": 1, "text": "Mary Rossi visited Oslo ."}',
        "{broken",
        '{"id": 3}',
        '["a list"]',
        "",
        '{"id": 5, "text": "' + "x " * 30 + '"}',
        '{"id": 6, "text": "Kofi Berg visited Perth ."}',
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    args = ["--input", str(source), "--output", str(out), "--max-chars", "40"]
    assert tag(tiny_model, *args) == 0
    assert [r["id"] for r in read_jsonl(out)] == [1, 6]
    rejects = read_jsonl(tmp_path / "out.rejects.jsonl")
    assert [(r["source"], r["reason"]) for r in rejects] == [
        ("in.jsonl:2", "not JSON (Expecting property name enclosed in double quotes)"),
        ("in.jsonl:3", "no text in 'text'"),
        ("in.jsonl:4", "not a JSON object"),
        ("in.jsonl:6", "60 characters, at most 40"),
    ]
    assert rejects[0]["record"] == "{broken"
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert "2 records tagged, 4 rejected" in summary and "out.rejects.jsonl" in summary


def test_globs_and_directories_each_file_its_own_ids(
    tiny_model: Path, texts: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a").mkdir()
    write_jsonl(tmp_path / "a" / "one.jsonl", [{"text": t} for t in texts[:5]])
    write_jsonl(tmp_path / "a" / "two.jsonl", [{"text": t} for t in texts[5:8]])
    (tmp_path / "b.txt").write_text("\n".join(texts[8:10]), encoding="utf-8")
    assert tag(tiny_model, "--input", str(tmp_path / "a"), "--input", str(tmp_path / "*.txt")) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == [
        *(f"one.jsonl:{n}" for n in range(1, 6)),
        *(f"two.jsonl:{n}" for n in range(1, 4)),
        "b.txt:1",
        "b.txt:2",
    ]


def test_two_workers_give_what_one_gives(
    tiny_model: Path, texts: list[str], tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in texts])
    outs = {}
    for workers in ("1", "2"):
        outs[workers] = tmp_path / f"out-{workers}"
        args = ["--input", str(source), "--output", str(outs[workers]), "--shard-mb", "0.004"]
        assert main(["tag", "--model", str(tiny_model), *args, "--workers", workers]) == 0
    assert len(list(outs["2"].glob("part-*.jsonl"))) > 4
    one, two = entities_by_id(read_parts(outs["1"])), entities_by_id(read_parts(outs["2"]))
    assert len(one) == len(texts) and one == two


def test_an_output_of_other_inputs_is_not_resumed(
    tiny_model: Path, texts: list[str], tmp_path: Path
) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", [{"text": t} for t in texts[:3]])
    second = write_jsonl(tmp_path / "second.jsonl", [{"text": t} for t in texts[3:5]])
    assert tag(tiny_model, "--input", str(first), "--output", str(tmp_path / "out")) == 0
    with pytest.raises(SystemExit, match="other inputs"):
        tag(tiny_model, "--input", str(second), "--output", str(tmp_path / "out"))
