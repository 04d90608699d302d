"""Input records: text lines, JSONL objects or Parquet rows, read from a binary stream.

Every input line (or row) becomes one :class:`Record` or one :class:`Reject`, so a run
accounts for each: a JSONL line that is not JSON, a record without text or with more than
``max_chars`` characters is rejected with its reason and the run goes on. A record without an
``id`` gets ``<file name>:<line>`` (``<file name>:<row>`` for Parquet, both counted from 1).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Literal, TypeAlias

Format: TypeAlias = Literal["text", "jsonl", "parquet"]
FORMATS: tuple[Format, ...] = ("text", "jsonl", "parquet")
#: The service's limit (``NER_MAX_TEXT_CHARS``): a longer text is a reject, not a slow batch.
MAX_CHARS = 10_000
#: How much of a rejected line the rejects file keeps.
RAW_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class Record:
    """One text to tag: its id and every input field (``text`` among them), passed through."""

    id: Any
    text: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reject:
    """An input line or row that could not be tagged, and why."""

    source: str
    reason: str
    raw: str

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "reason": self.reason, "record": self.raw[:RAW_CHARS]}


Item: TypeAlias = Record | Reject


@dataclass(frozen=True, slots=True)
class Limits:
    """What a record may hold, and where its text and id are."""

    max_chars: int = MAX_CHARS
    text_field: str = "text"
    id_field: str = "id"


def format_of(path: str) -> Format:
    """The input format a file name implies: JSONL, Parquet, or else one text a line."""
    name = path.lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "parquet" if name.endswith(".parquet") else "text"


def lines_of(stream: IO[bytes], end: int | None = None) -> Iterator[bytes]:
    """The lines of a binary stream from where it stands, without their line ends; with ``end``,
    only the lines that start before that many bytes from there."""
    carry, position = b"", 0
    while end is None or position < end:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        lines = (carry + chunk).split(b"\n")
        carry = lines.pop()
        for line in lines:
            if end is not None and position >= end:
                return
            position += len(line) + 1
            yield line.removesuffix(b"\r")
    if carry and (end is None or position < end):
        yield carry.removesuffix(b"\r")


def parse_line(line: bytes, fmt: Format, name: str, number: int, limits: Limits) -> Item | None:
    """One line as a record or a reject; None for a blank JSONL line (no record at all)."""
    source = f"{name}:{number}"
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as error:
        return Reject(source, f"not UTF-8 ({error.reason})", line.decode("utf-8", "replace"))
    if fmt == "text":
        return checked({limits.text_field: decoded}, source, decoded, limits)
    if not decoded.strip():
        return None
    try:
        value = json.loads(decoded)
    except json.JSONDecodeError as error:
        return Reject(source, f"not JSON ({error.msg})", decoded)
    if not isinstance(value, dict):
        return Reject(source, "not a JSON object", decoded)
    return checked(value, source, decoded, limits)


def checked(fields: dict[str, Any], source: str, raw: str, limits: Limits) -> Item:
    """A record of ``fields`` if its text may be tagged, else the reject that says why."""
    text = fields.get(limits.text_field)
    if not isinstance(text, str) or not text.strip():
        return Reject(source, f"no text in '{limits.text_field}'", raw)
    if len(text) > limits.max_chars:
        return Reject(source, f"{len(text)} characters, at most {limits.max_chars}", raw)
    record_id = fields.get(limits.id_field)
    rest = {k: v for k, v in fields.items() if k != limits.id_field}
    return Record(source if record_id is None else record_id, text, rest)


def read_lines(
    stream: IO[bytes],
    fmt: Format,
    name: str,
    limits: Limits,
    first: int = 1,
    end: int | None = None,
) -> Iterator[Item]:
    """Records and rejects of a text or JSONL stream whose first line is number ``first``."""
    for number, line in enumerate(lines_of(stream, end), start=first):
        item = parse_line(line, fmt, name, number, limits)
        if item is not None:
            yield item


def read_parquet(
    source: Any, name: str, limits: Limits, row_groups: range | None = None
) -> Iterator[Item]:
    """Records and rejects of a Parquet file (a path or a binary stream), row group by row
    group; ``row_groups`` reads only those."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source)
    metadata = parquet.metadata
    groups = range(metadata.num_row_groups) if row_groups is None else row_groups
    number = 1 + sum(metadata.row_group(g).num_rows for g in range(groups.start))
    for group in groups:
        for fields in parquet.read_row_group(group).to_pylist():
            source_name = f"{name}:{number}"
            yield checked(fields, source_name, json.dumps(fields, default=str), limits)
            number += 1


def read_stream(stream: IO[bytes], path: str, fmt: Format, limits: Limits) -> Iterator[Item]:
    """Every record and reject of one whole file, named by its base name."""
    name = posixpath.basename(path)
    if fmt == "parquet":
        return read_parquet(stream, name, limits)
    return read_lines(stream, fmt, name, limits)
