"""What the Ray engine's tasks and actors share (:mod:`model.corpus.on_ray`): reading and
writing, without torch.

Files are read by :class:`CorpusDatasource` with the same reader as the local engine (so ids,
pass-through fields and rejects are the same). Each item carries its place, ``at`` (the file and
the item's number in it), so whatever tags a batch names its output after the batch's first
place: :class:`Output` writes one file per batch, and a batch Ray retries replaces its own file.
Paths may be anything pyarrow opens (local, ``s3://``, ``gs://``, with the user's credentials);
local paths must be visible at the same place on every node. Nothing here imports torch: each of
Ray's worker processes that reads imports this module, and torch would cost it 1.5 s of CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
from ray.data.block import Block
from ray.data.datasource import FileBasedDatasource

from model.corpus.records import Format, Limits, Record, Reject, format_of, read_stream
from model.corpus.rows import OutputFormat, Row, write_rejects, write_rows


class CorpusDatasource(FileBasedDatasource):
    """Text, JSONL or Parquet files as rows of two columns: ``item``, each record or reject
    as the object it is (Ray carries Python objects itself, so their values keep their types:
    a Parquet timestamp stays one), and ``at``, its place; in blocks of ``rows`` items."""

    def __init__(
        self, paths: str | list[str], fmt: Format | None, limits: Limits, rows: int
    ) -> None:
        super().__init__(paths)
        self.format, self.limits, self.rows = fmt, limits, rows

    def _read_stream(self, f: pa.NativeFile, path: str) -> Iterator[Block]:
        fmt = self.format or format_of(path)
        # Parquet wants to seek; Ray hands a stream, so the file is read whole.
        source: Any = pa.BufferReader(f.read()) if fmt == "parquet" else f
        file = hashlib.sha1(path.encode("utf-8")).hexdigest()[:12]
        items: list[Record | Reject] = []
        start = 0
        for item in read_stream(source, path, fmt, self.limits):
            items.append(item)
            if len(items) == self.rows:
                yield _block(items, file, start)
                items, start = [], start + len(items)
        if items:
            yield _block(items, file, start)


def _block(items: list[Record | Reject], file: str, start: int) -> pd.DataFrame:
    at = [f"{file}-{start + i:012d}" for i in range(len(items))]
    return pd.DataFrame({"item": pd.Series(items, dtype=object), "at": at})


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


class Output:
    """An output directory: ``part-<run>-<place>.<format>`` files of output rows,
    ``_rejects/`` beside them and a ``_SUCCESS`` file with the counts once all is written."""

    def __init__(self, output: str, fmt: OutputFormat) -> None:
        self.output, self.format = output, fmt
        # Made absolute here, in the driver: an actor's working directory is Ray's choice.
        self.uri = uri(output)
        self.run = uuid.uuid4().hex[:8]
        self._filesystem: tuple[pafs.FileSystem, str] | None = None

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """The output's filesystem and its path there, resolved once (on object storage,
        resolving means finding credentials and a region)."""
        if self._filesystem is None:
            self._filesystem = pafs.FileSystem.from_uri(self.uri)
        return self._filesystem

    def start(self) -> None:
        """Make the directory, removing what a failed run left, which would be read with this
        run's parts."""
        filesystem, root = self.filesystem()
        for directory in (root, posixpath.join(root, "_rejects")):
            filesystem.create_dir(directory, recursive=True)
            for info in filesystem.get_file_info(pafs.FileSelector(directory)):
                if info.base_name.startswith("part-"):
                    filesystem.delete_file(info.path)

    def write(self, at: str, rows: list[Row], rejects: list[Reject]) -> None:
        """The files of the batch whose first item is ``at``."""
        filesystem, root = self.filesystem()
        name = f"part-{self.run}-{at}"
        if rows:
            path = posixpath.join(root, f"{name}.{self.format}")
            with filesystem.open_output_stream(path) as out:
                write_rows(rows, out, self.format)
        if rejects:
            with filesystem.open_output_stream(
                posixpath.join(root, "_rejects", f"{name}.jsonl")
            ) as out:
                write_rejects(rejects, out)

    def finish(self, records: int, rejects: int, words: int) -> Summary:
        """Mark the output complete; what it holds."""
        filesystem, root = self.filesystem()
        totals = {"records": records, "rejects": rejects, "words": words}
        with filesystem.open_output_stream(posixpath.join(root, "_SUCCESS")) as out:
            out.write(json.dumps(totals).encode("utf-8"))
        return Summary(**totals, output=self.output)


def uri(path: str) -> str:
    """A URI for pyarrow: URLs as they are, local paths made absolute."""
    return path if "://" in path else os.path.abspath(path)
