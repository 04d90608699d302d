"""A batcher over stub taggers (through :class:`service.core.workers.Workers`), started and
stopped around a test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from service.core.backend import InProcessBackend
from service.core.batching import Batcher, BatchReport
from service.core.workers import Workers
from tests.service.support import StubTagger


def workers_of(
    *stubs: StubTagger,
    copy: StubTagger | None = None,
    copy_tokens: int = 0,
    spill_tokens: int = 0,
) -> Workers:
    """Workers over one in-process backend per stub, and ``copy`` as the copy in the server."""
    return Workers(
        [InProcessBackend(stub) for stub in stubs],
        copy=None if copy is None else InProcessBackend(copy),
        copy_tokens=copy_tokens,
        spill_tokens=spill_tokens,
    )


@asynccontextmanager
async def running(
    model: StubTagger | Workers,
    reports: list[BatchReport] | None = None,
    light_load: Callable[[], bool] | None = None,
    **options: Any,
) -> AsyncIterator[Batcher]:
    """A started batcher over ``model`` (a stub: workers of one backend over it), with the
    batcher's ``options`` on top of small defaults; on the way out every stub's gate opens
    and the batcher drains."""
    workers = workers_of(model) if isinstance(model, StubTagger) else model
    if light_load is not None:
        workers.light_load = light_load
    values: dict[str, Any] = {
        "max_batch_size": 8,
        "max_batch_tokens": 4096,
        "max_wait": 0.002,
        "max_queue": 100,
    }
    values.update(options)
    sink = reports if reports is not None else []
    workers.start()
    batcher = Batcher(workers, on_batch=sink.append, **values)
    await batcher.start()
    try:
        yield batcher
    finally:
        for backend in workers.backends:
            tagger = getattr(backend, "tagger", None)
            if isinstance(tagger, StubTagger):
                tagger.gate.set()
        await batcher.stop()
        workers.stop()


def sentence(n: int, word: str = "w") -> list[str]:
    return [f"{word}{i}" for i in range(n)]
