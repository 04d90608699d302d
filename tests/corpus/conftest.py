"""A small corpus of the synthetic sentences, and helpers to read what a run wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_sentences


@pytest.fixture(scope="session")
def texts() -> list[str]:
    """300 texts of the tiny model's templates (one or two sentences each)."""
    sentences = [" ".join(token for token, _ in s) for s in make_sentences(400, seed=7)]
    return [sentences[i] + (" " + sentences[i + 1] if i % 3 == 0 else "") for i in range(300)]


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_parts(directory: Path) -> list[dict[str, Any]]:
    """Every row of a directory of JSONL shards, in file-name order."""
    return [row for part in sorted(directory.glob("part-*.jsonl")) for row in read_jsonl(part)]


def entities_by_id(rows: list[dict[str, Any]]) -> dict[Any, list[tuple[str, str, int, int]]]:
    """Each row's entities (label, text, start, end), by id; fails on an id seen twice."""
    out: dict[Any, list[tuple[str, str, int, int]]] = {}
    for row in rows:
        assert row["id"] not in out, f"{row['id']} written twice"
        out[row["id"]] = [(e["label"], e["text"], e["start"], e["end"]) for e in row["entities"]]
    return out
