"""The Ray engine: the corpus read with Ray Data, tagged and written by an actor pool.

``ray.init()`` joins the cluster that ``RAY_ADDRESS`` names (Ray's own convention) or starts
one here. :class:`TagBatch` actors (one model each, loaded once, one torch thread) tag a batch of
``FILE_ROWS`` items and write it as one file. They write it themselves, not in Ray Data's write
tasks: with an actor on every CPU, Ray stops a task's worker process once it is idle for a
second, so each write started a Python process of its own (a tenth more time on 2 CPUs). Ray
retries a batch whose actor died on the restarted actor; the batch's file has the name of its
first item, so the retry replaces it and nothing is written twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import ray

from model.corpus.ray_io import CorpusDatasource, Output, Summary, uri
from model.corpus.records import Format, Record, Reject
from model.corpus.rows import Job, OutputFormat, Row, tag_records

#: Items in a batch, and so in an output file at most.
FILE_ROWS = 2048
#: Reading mostly waits on storage: it is given no CPU of Ray's accounting, so that the actors,
#: one CPU each, can have every CPU of the cluster (Ray does not schedule past what the nodes
#: declare: with 0.1 CPU each, a read waited for ever).
READ_CPUS = 0


class TagBatch:
    """A Ray Data actor: one tagger, loaded once; a batch of items in, its file written, its
    counts out."""

    def __init__(self, job: Job, output: Output) -> None:
        # Imported here, in the actor: the driver runs without torch (a second less start-up).
        import torch

        from model.device import resolve_device
        from model.tagger import Tagger

        torch.set_num_threads(1)
        self.tagger = Tagger.load(job.model, resolve_device(job.device))
        self.job, self.output = job, output

    def __call__(self, batch: pd.DataFrame) -> dict[str, list[int]]:
        read = list(batch["item"])
        rejects = [item for item in read if isinstance(item, Reject)]
        records = [item for item in read if isinstance(item, Record)]
        rows: list[Row] = []
        words = 0
        for start in range(0, len(records), self.job.batch_size):
            chunk = records[start : start + self.job.batch_size]
            tagged = tag_records(self.tagger, chunk, self.job.tokens)
            rows += tagged.rows
            words += sum(tagged.words)
        self.output.write(str(batch["at"].iloc[0]), rows, rejects)
        return {"records": [len(rows)], "rejects": [len(rejects)], "words": [words]}


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
    target = Output(output, out_format)
    target.start()
    source = CorpusDatasource([uri(p) for p in inputs], fmt, job.limits, FILE_ROWS)
    counts = ray.data.read_datasource(source, num_cpus=READ_CPUS).map_batches(
        TagBatch,
        fn_constructor_args=(job, target),
        batch_size=FILE_ROWS,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,
    )
    totals = {"records": 0, "rejects": 0, "words": 0}
    for batch in counts.iter_batches(batch_format="pyarrow", batch_size=None):
        for key in totals:
            totals[key] += sum(batch.column(key).to_pylist())
    return target.finish(**totals)
