"""The Ray engine: the corpus read, tagged by an actor pool and written with Ray Data.

``ray.init()`` joins the cluster that ``RAY_ADDRESS`` names (Ray's own convention) or starts
one here. Files are read by :class:`CorpusDatasource` with the same reader as the local engine
(so ids, pass-through fields and rejects are the same), tagged by :class:`TagBatch` actors (one
model each, loaded once, one torch thread) and written by :class:`CorpusDatasink`: one file per
write task, named by the run and the task, so a task Ray retries replaces its own file. Ray
retries a batch whose actor died on another actor and restarts the actor; nothing is written
twice. Paths may be anything pyarrow opens (local, ``s3://``, ``gs://``, with the user's
credentials); local paths must be visible at the same place on every node.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import ray
import torch
from ray.data.block import Block, BlockAccessor
from ray.data.datasource import Datasink, FileBasedDatasource

from model.corpus.local import Job
from model.corpus.records import Format, Limits, Record, Reject, format_of, read_stream
from model.corpus.rows import OutputFormat, json_line, tag_records, write_rows
from model.tagger import Tagger

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


class TagBatch:
    """A Ray Data actor: one tagger, loaded once; a batch of items in, output lines out."""

    def __init__(self, job: Job) -> None:
        torch.set_num_threads(1)
        self.tagger = Tagger.load(job.model, job.device)
        self.tokens = job.tokens

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        items = [decode(line) for line in batch["item"]]
        records = [item for item in items if isinstance(item, Record)]
        tagged = tag_records(self.tagger, records, self.tokens)
        rows, words = iter(tagged.rows), iter(tagged.words)
        out: dict[str, list[Any]] = {"line": [], "reject": [], "words": []}
        for item in items:
            rejected = isinstance(item, Reject)
            line = json.dumps(item.to_json()) if isinstance(item, Reject) else json_line(next(rows))
            out["line"].append(line)
            out["reject"].append(rejected)
            out["words"].append(0 if rejected else next(words))
        return out


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
        self.filesystem, self.root = pafs.FileSystem.from_uri(_uri(output))
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
                write_rows((json.loads(line) for line in lines), out, self.format)
        if rejects:
            path = posixpath.join(self.root, "_rejects", f"{name}.jsonl")
            with self.filesystem.open_output_stream(path) as out:
                out.write("".join(line + "\n" for line in rejects).encode("utf-8"))
        return {"records": len(lines), "rejects": len(rejects), "words": words}

    def on_write_complete(self, write_result: Any) -> None:
        counts = write_result.write_returns
        totals = {key: sum(c[key] for c in counts) for key in ("records", "rejects", "words")}
        self.summary = Summary(**totals, output=self.output)
        with self.filesystem.open_output_stream(posixpath.join(self.root, "_SUCCESS")) as out:
            out.write(json.dumps(totals).encode("utf-8"))


def _uri(path: str) -> str:
    """A URI for pyarrow: URLs as they are, local paths made absolute."""
    return path if "://" in path else os.path.abspath(path)


def run_on_ray(
    inputs: Sequence[str],
    fmt: Format | None,
    output: str,
    out_format: OutputFormat,
    job: Job,
    actors: int | None,
) -> Summary:
    """Tag ``inputs`` into ``output`` on the Ray cluster (``RAY_ADDRESS``, or a new local one)."""
    ray.init(ignore_reinit_error=True, log_to_driver=False)
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1)))  # type: ignore[no-untyped-call]
    source = CorpusDatasource([_uri(p) for p in inputs], fmt, job.limits, job.batch_size)
    dataset = ray.data.read_datasource(source, num_cpus=IO_CPUS).map_batches(
        TagBatch,
        fn_constructor_args=(job,),
        batch_size=job.batch_size,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,
    )
    sink = CorpusDatasink(output, out_format)
    dataset.write_datasink(sink, ray_remote_args={"num_cpus": IO_CPUS})
    if sink.summary is None:
        raise RuntimeError("Ray finished the write without completing it")
    return sink.summary
