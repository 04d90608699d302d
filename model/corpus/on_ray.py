"""The Ray engine: the corpus read, tagged by an actor pool and written with Ray Data.

``ray.init()`` joins the cluster that ``RAY_ADDRESS`` names (Ray's own convention) or starts
one here. :mod:`model.corpus.ray_io` reads and writes; :class:`TagBatch` actors tag (one model
each, loaded once, one torch thread). Ray retries a batch whose actor died on another actor and
restarts the actor; nothing is written twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import ray

from model.corpus.ray_io import IO_CPUS, CorpusDatasink, CorpusDatasource, Summary, decode, uri
from model.corpus.records import Format, Record, Reject
from model.corpus.rows import Job, OutputFormat, json_line, tag_records


class TagBatch:
    """A Ray Data actor: one tagger, loaded once; a batch of items in, output lines out."""

    def __init__(self, job: Job) -> None:
        # Imported here, in the actor: the driver runs without torch (a second less start-up).
        import torch

        from model.device import resolve_device
        from model.tagger import Tagger

        torch.set_num_threads(1)
        self.tagger = Tagger.load(job.model, resolve_device(job.device))
        self.tokens = job.tokens

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        items = [decode(line) for line in batch["item"]]
        records = [item for item in items if isinstance(item, Record)]
        tagged = tag_records(self.tagger, records, self.tokens)
        rows, words = iter(tagged.rows), iter(tagged.words)
        out: dict[str, list[Any]] = {"line": [], "reject": [], "words": []}
        for item in items:
            if isinstance(item, Reject):
                out["line"].append(json.dumps(item.to_json(), ensure_ascii=False))
                out["words"].append(0)
            else:
                out["line"].append(json_line(next(rows)))
                out["words"].append(next(words))
            out["reject"].append(isinstance(item, Reject))
        return out


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
    source = CorpusDatasource([uri(p) for p in inputs], fmt, job.limits, job.batch_size)
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
