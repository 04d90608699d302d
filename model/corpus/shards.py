"""Shards of the input and the output directory that makes a run resumable.

A text or JSONL file is cut at line starts into shards of about ``target_bytes``; a Parquet
file into its row groups. The plan is written first (``_plan.json``) and a rerun reuses it, so
shard ``part-00007`` stands for the same lines in every run. A shard's rows are written to a
hidden temporary file, renamed into place, and only then is its completion marker written
(``_done/part-00007.json``): a rerun skips the shards with a marker and redoes the others
whole, replacing whatever a killed run left, so no record is written twice or missed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from model.corpus.records import Format, Item, Limits, read_lines, read_parquet
from model.corpus.rows import OutputFormat


@dataclass(frozen=True, slots=True)
class Shard:
    """Bytes ``start`` to ``end`` of a text or JSONL file, whose first line is number ``first``,
    or row groups ``start`` to ``end`` of a Parquet file, whose first row is ``first``;
    ``count`` lines or rows in all."""

    index: int
    path: str
    format: Format
    start: int
    end: int
    first: int
    count: int

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}"

    def items(self, limits: Limits) -> Iterator[Item]:
        """The shard's records and rejects, in order."""
        base = Path(self.path).name
        if self.format == "parquet":
            yield from read_parquet(self.path, base, limits, range(self.start, self.end))
            return
        with open(self.path, "rb") as stream:
            stream.seek(self.start)
            yield from read_lines(
                stream, self.format, base, limits, self.first, self.end - self.start
            )


def _line_shards(path: str, target_bytes: int) -> Iterator[tuple[int, int, int, int]]:
    """(start, end, first line, lines) of each shard of a text file, cut at line starts."""
    start = position = lines = 0
    first = 1
    with open(path, "rb") as stream:
        for line in stream:
            position += len(line)
            lines += 1
            if position - start >= target_bytes:
                yield start, position, first, lines
                start, first, lines = position, first + lines, 0
    if position > start:
        yield start, position, first, lines


def plan(inputs: Sequence[tuple[str, Format]], target_bytes: int) -> list[Shard]:
    """Shards of every input file, in input order."""
    shards: list[Shard] = []
    for path, fmt in inputs:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            metadata = pq.ParquetFile(path).metadata
            first = 1
            for group in range(metadata.num_row_groups):
                rows = metadata.row_group(group).num_rows
                shards.append(Shard(len(shards), path, fmt, group, group + 1, first, rows))
                first += rows
            continue
        for start, end, first, lines in _line_shards(path, target_bytes):
            shards.append(Shard(len(shards), path, fmt, start, end, first, lines))
    return shards


class OutputDir:
    """A directory of ``part-NNNNN.<format>`` files, ``_rejects/`` and ``_done/`` markers."""

    PLAN = "_plan.json"

    def __init__(self, root: Path, fmt: OutputFormat) -> None:
        self.root, self.format = root, fmt

    def shards(self, inputs: Sequence[tuple[str, Format]], target_bytes: int) -> list[Shard]:
        """The plan this directory holds for ``inputs``, or a new one written to it.

        Raises ValueError when it holds the output of other inputs or of another format."""
        key = {
            "format": self.format,
            "inputs": [[path, fmt, os.stat(path).st_size] for path, fmt in inputs],
        }
        plan_file = self.root / self.PLAN
        if plan_file.exists():
            saved = json.loads(plan_file.read_text(encoding="utf-8"))
            if saved["key"] != key:
                raise ValueError(
                    f"{self.root} holds the output of other inputs or another format: "
                    "give a new output, or delete it to start over"
                )
            return [Shard(**shard) for shard in saved["shards"]]
        shards = plan(inputs, target_bytes)
        (self.root / "_done").mkdir(parents=True, exist_ok=True)
        (self.root / "_rejects").mkdir(exist_ok=True)
        payload = {"key": key, "shards": [asdict(s) for s in shards]}
        _replace(plan_file, json.dumps(payload, indent=1).encode("utf-8"))
        return shards

    def data(self, shard: Shard) -> Path:
        return self.root / f"{shard.name}.{self.format}"

    def rejects(self, shard: Shard) -> Path:
        return self.root / "_rejects" / f"{shard.name}.jsonl"

    def marker(self, shard: Shard) -> Path:
        return self.root / "_done" / f"{shard.name}.json"

    def done(self, shard: Shard) -> dict[str, Any] | None:
        """The counts of a completed shard, or None if it must be (re)done."""
        marker = self.marker(shard)
        return json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None

    def temporary(self, path: Path) -> Path:
        """Where ``path`` is written before it is renamed into place."""
        return path.with_name(f".{path.name}.tmp")

    def commit(self, shard: Shard, counts: dict[str, Any]) -> None:
        """Rename the shard's written files into place, then mark it done."""
        for path in (self.data(shard), self.rejects(shard)):
            written = self.temporary(path)
            if written.exists():
                os.replace(written, path)
            else:
                path.unlink(missing_ok=True)
        _replace(self.marker(shard), json.dumps(counts).encode("utf-8"))

    def merge(self, shards: Sequence[Shard], out: IO[bytes], rejects: IO[bytes] | None) -> None:
        """Every shard's rows into ``out`` (and rejects into ``rejects``), in shard order."""
        if self.format == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            tables = [pq.read_table(self.data(s)) for s in shards if self.data(s).exists()]
            table = pa.concat_tables(tables, promote_options="default") if tables else pa.table({})
            pq.write_table(table, out)
        else:
            for shard in shards:
                if self.data(shard).exists():
                    with self.data(shard).open("rb") as part:
                        shutil.copyfileobj(part, out)
        for shard in shards:
            if rejects is not None and self.rejects(shard).exists():
                with self.rejects(shard).open("rb") as part:
                    shutil.copyfileobj(part, rejects)


def _replace(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` at once: a reader sees the old file or the new, whole."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
