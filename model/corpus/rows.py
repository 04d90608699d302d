"""Output rows: a batch of records tagged, and rows and rejects written as JSONL or Parquet.

An output row is its record's id, every input field passed through (``text`` among them), its
``entities`` (text, label, start, end, score; offsets are characters into ``text``) and, when
asked, its ``tokens`` (text, start, end, tag, score). Every engine writes the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING, Any, Literal, TypeAlias

from model.corpus.records import Limits, Record, Reject

if TYPE_CHECKING:  # Ray's read and write tasks import this module, and need no torch
    from model.tagger import Tagger

OutputFormat: TypeAlias = Literal["jsonl", "parquet"]
#: Output rows are dicts of JSON values.
Row: TypeAlias = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Job:
    """What every batch of a run is tagged with."""

    model: str
    device: str
    limits: Limits
    batch_size: int = 256
    tokens: bool = False


@dataclass(frozen=True, slots=True)
class TaggedBatch:
    """What tagging a batch gave: one row per record, in order, and each one's words."""

    rows: list[Row]
    words: list[int]


def tag_records(tagger: Tagger, records: Sequence[Record], tokens: bool = False) -> TaggedBatch:
    """Tag ``records`` in one call of the tagger and build their output rows."""
    results = tagger.tag([record.text for record in records])
    if len(results) != len(records):
        raise RuntimeError(f"the tagger gave {len(results)} results for {len(records)} texts")
    rows, words = [], []
    for record, tagged in zip(records, results, strict=True):
        row: Row = {"id": record.id, **record.fields}
        row["entities"] = [asdict(entity) for entity in tagged.entities]
        if tokens:
            row["tokens"] = [asdict(token) for token in tagged.tokens]
        rows.append(row)
        words.append(len(tagged.tokens))
    return TaggedBatch(rows, words)


def _json_line(row: Row) -> str:
    """One row as a JSONL line (no line end); values JSON cannot hold are written as strings."""
    return json.dumps(row, ensure_ascii=False, default=str)


def write_rows(rows: Iterable[Row], out: IO[bytes], fmt: OutputFormat) -> int:
    """Write ``rows`` to a binary stream as JSONL or as one Parquet file; the count written."""
    if fmt == "jsonl":
        count = 0
        for row in rows:
            out.write((_json_line(row) + "\n").encode("utf-8"))
            count += 1
        return count
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(list(rows))
    pq.write_table(table, out)
    return int(table.num_rows)


def write_rejects(rejects: Iterable[Reject], out: IO[bytes]) -> int:
    """Write rejects as JSONL (source, reason, record); the count written."""
    count = 0
    for reject in rejects:
        out.write((json.dumps(reject.to_json(), ensure_ascii=False) + "\n").encode("utf-8"))
        count += 1
    return count
