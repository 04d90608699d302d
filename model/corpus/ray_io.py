"""What Ray's read and write tasks run for the Ray engine (:mod:`model.corpus.on_ray`).

Files are read by :class:`CorpusDatasource` with the same reader as the local engine (so ids,
pass-through fields and rejects are the same) and written by :class:`CorpusDatasink`: one file
per write task, named by the run and the task, so a task Ray retries replaces its own file.
Paths may be anything pyarrow opens (local, ``s3://``, ``gs://``, with the user's credentials);
local paths must be visible at the same place on every node. Nothing here imports torch: each
of Ray's worker processes that runs a read or a write imports this module, and torch would
cost each one 1.5 s of CPU.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
from ray.data.block import Block, BlockAccessor
from ray.data.datasource import Datasink, FileBasedDatasource

from model.corpus.records import Format, Limits, Record, Reject, format_of, read_stream
from model.corpus.rows import OutputFormat, write_rows

#: Ray Data's reads and writes mostly wait on storage: they are given no CPU of Ray's
#: accounting, so that the actors, one CPU each, can have every CPU of the cluster (Ray does
#: not schedule past what the nodes declare: with 0.1 CPU each, a read waited for ever).
IO_CPUS = 0


class CorpusDatasource(FileBasedDatasource):
    """Text, JSONL or Parquet files as rows of one column, ``item``: each record or reject as
    JSON, in blocks of ``rows`` items."""

    def __init__(
        self, paths: str | list[str], fmt: Format | None, limits: Limits, rows: int = 256
    ) -> None:
        super().__init__(paths)
        self.format, self.limits, self.rows = fmt, limits, rows

    def _read_stream(self, f: pa.NativeFile, path: str) -> Iterator[Block]:
        fmt = self.format or format_of(path)
        # Parquet wants to seek; Ray hands a stream, so the file is read whole.
        source: Any = pa.BufferReader(f.read()) if fmt == "parquet" else f
        items: list[str] = []
        for item in read_stream(source, path, fmt, self.limits):
            items.append(encode(item))
            if len(items) == self.rows:
                yield pa.table({"item": items})
                items = []
        if items:
            yield pa.table({"item": items})


def encode(item: Record | Reject) -> str:
    if isinstance(item, Reject):
        return json.dumps({"reject": item.to_json()}, ensure_ascii=False)
    return json.dumps({"id": item.id, "text": item.text, "fields": item.fields}, default=str)


def decode(line: str) -> Record | Reject:
    value = json.loads(line)
    if "reject" in value:
        reject = value["reject"]
        return Reject(reject["source"], reject["reason"], reject["record"])
    return Record(value["id"], value["text"], value["fields"])


@dataclass(frozen=True, slots=True)
class Summary:
    """What a Ray run wrote."""

    records: int
    rejects: int
    words: int
    output: str

    def __str__(self) -> str:
        line = f"bigru-ner tag: {self.records} records tagged, {self.rejects} rejected"
        line += f", {self.words} words; output in {self.output}"
        return line + (f" (rejects in {self.output}/_rejects)" if self.rejects else "")


class CorpusDatasink(Datasink[dict[str, int]]):
    """``part-<run>-<task>.<format>`` files of output rows, ``_rejects/`` beside them and a
    ``_SUCCESS`` file with the counts once every task is written."""

    def __init__(self, output: str, fmt: OutputFormat) -> None:
        self.filesystem, self.root = pafs.FileSystem.from_uri(uri(output))
        self.format, self.output = fmt, output
        self.run = uuid.uuid4().hex[:8]
        self.summary: Summary | None = None

    def on_write_start(self, schema: Any = None) -> None:
        # What a failed run left would be read with this one's: start over.
        for directory in (self.root, posixpath.join(self.root, "_rejects")):
            self.filesystem.create_dir(directory, recursive=True)
            for info in self.filesystem.get_file_info(pafs.FileSelector(directory)):
                if info.base_name.startswith("part-"):
                    self.filesystem.delete_file(info.path)

    def write(self, blocks: Iterable[Block], ctx: Any) -> dict[str, int]:
        lines: list[str] = []
        rejects: list[str] = []
        words = 0
        for block in blocks:
            accessor = BlockAccessor.for_block(block)
            row: dict[str, Any]
            for row in accessor.iter_rows(public_row_format=False):
                (rejects if row["reject"] else lines).append(row["line"])
                words += int(row["words"])
        name = f"part-{self.run}-{ctx.task_idx:05d}"
        if lines:
            path = posixpath.join(self.root, f"{name}.{self.format}")
            with self.filesystem.open_output_stream(path) as out:
                if self.format == "jsonl":  # the lines as the actors wrote them
                    out.write(_joined(lines))
                else:
                    write_rows((json.loads(line) for line in lines), out, self.format)
        if rejects:
            path = posixpath.join(self.root, "_rejects", f"{name}.jsonl")
            with self.filesystem.open_output_stream(path) as out:
                out.write(_joined(rejects))
        return {"records": len(lines), "rejects": len(rejects), "words": words}

    def on_write_complete(self, write_result: Any) -> None:
        counts = write_result.write_returns
        totals = {key: sum(c[key] for c in counts) for key in ("records", "rejects", "words")}
        self.summary = Summary(**totals, output=self.output)
        with self.filesystem.open_output_stream(posixpath.join(self.root, "_SUCCESS")) as out:
            out.write(json.dumps(totals).encode("utf-8"))


def _joined(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8")


def uri(path: str) -> str:
    """A URI for pyarrow: URLs as they are, local paths made absolute."""
    return path if "://" in path else os.path.abspath(path)
