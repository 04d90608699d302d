"""The local engine: shards tagged by N processes, each with its model loaded once.

Each worker process loads the tagger once and runs torch on one thread, so N workers use N
cores without their threads fighting; the parent only hands out shards and draws the progress.
With one worker the shards are tagged in this process. Work is a whole shard: a worker writes
it, renames it into place and marks it done (:class:`model.corpus.shards.OutputDir`).
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from itertools import islice
from typing import Any

import torch

from model.corpus.records import Item, Record, Reject
from model.corpus.rows import Job, Row, tag_records, write_rejects, write_rows
from model.corpus.shards import OutputDir, Shard
from model.tagger import Tagger

#: Called with (lines read, records tagged, words tagged) as a shard goes.
Report = Callable[[int, int, int], None]


def _batches(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    while batch := list(islice(items, size)):
        yield batch


def tag_shard(tagger: Tagger, job: Job, shard: Shard, out: OutputDir, report: Report) -> None:
    """Tag one shard into its output files and mark it done."""
    rows: list[Row] = []
    rejects: list[Reject] = []
    records = words = lines = 0
    data = out.temporary(out.data(shard))
    with data.open("wb") as stream:
        for batch in _batches(shard.items(job.limits), job.batch_size):
            rejects += [item for item in batch if isinstance(item, Reject)]
            tagged = tag_records(tagger, [i for i in batch if isinstance(i, Record)], job.tokens)
            if out.format == "jsonl":
                write_rows(tagged.rows, stream, "jsonl")
            else:
                rows += tagged.rows
            records, words = records + len(tagged.rows), words + sum(tagged.words)
            lines += len(batch)
            report(len(batch), len(tagged.rows), sum(tagged.words))
        if rows:
            write_rows(rows, stream, "parquet")
    if out.format == "parquet" and not rows:
        data.unlink()
    if rejects:
        with out.temporary(out.rejects(shard)).open("wb") as stream:
            write_rejects(rejects, stream)
    # Blank JSONL lines are neither records nor rejects, but were read all the same.
    report(shard.count - lines, 0, 0)
    out.commit(shard, {"records": records, "rejects": len(rejects), "words": words})


_worker: dict[str, Any] = {}


def _start_worker(job: Job, progress: Any) -> None:
    torch.set_num_threads(1)
    _worker["tagger"] = Tagger.load(job.model, job.device)
    _worker["job"], _worker["progress"] = job, progress


def _run_shard(shard: Shard, out: OutputDir) -> None:
    progress = _worker["progress"]
    report: Report = lambda *counts: progress.put(counts)  # noqa: E731
    tag_shard(_worker["tagger"], _worker["job"], shard, out, report)


def run(job: Job, shards: Sequence[Shard], out: OutputDir, workers: int, report: Report) -> None:
    """Tag every shard of ``shards`` with ``workers`` processes (this one when 1)."""
    if not shards:
        return
    if workers == 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            tagger = Tagger.load(job.model, job.device)
            for shard in shards:
                tag_shard(tagger, job, shard, out, report)
        finally:
            torch.set_num_threads(threads)
        return
    # Not forked from this process, whose torch may hold thread pools and locks: forked from
    # a server that has imported the model's code and nothing else, so no worker imports
    # torch again (half a second less start-up on 2 cores).
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["model.tagger"])
    progress = context.Queue()
    with ProcessPoolExecutor(
        min(workers, len(shards)), context, initializer=_start_worker, initargs=(job, progress)
    ) as pool:
        pending: set[Future[None]] = {pool.submit(_run_shard, s, out) for s in shards}
        try:
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(progress, report)
                for future in finished:
                    future.result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    # The workers have exited: what they put last is in the queue now.
    _drain(progress, report)


def _drain(progress: Any, report: Report) -> None:
    while True:
        try:
            report(*progress.get_nowait())
        except queue.Empty:
            return
