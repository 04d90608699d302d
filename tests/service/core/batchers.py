"""A batcher over a stub tagger, started and stopped around a test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from service.core.batching import Batcher
from service.core.pending import BatchReport
from tests.service.support import StubTagger


@asynccontextmanager
async def running(
    stub: StubTagger, reports: list[BatchReport] | None = None, **options: Any
) -> AsyncIterator[Batcher]:
    values: dict[str, Any] = {
        "max_batch_size": 8,
        "max_batch_tokens": 4096,
        "max_wait": 0.002,
        "max_queue": 100,
    }
    values.update(options)
    sink = reports if reports is not None else []
    batcher = Batcher(stub.tag_sentences, on_batch=sink.append, **values)
    await batcher.start()
    try:
        yield batcher
    finally:
        stub.gate.set()
        await batcher.stop()


def sentence(n: int, word: str = "w") -> list[str]:
    return [f"{word}{i}" for i in range(n)]
