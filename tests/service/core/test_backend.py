"""The backend contract (:class:`service.core.backend.Backend`), the same cases on both
implementations: the tiny BiGRU in this process, and in a child process of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.pipeline import Prediction
from model.tagger import Tagger
from service.core.backend import Backend, InProcessBackend, describe
from service.core.batching import Batcher, BatchReport
from service.core.errors import BatchFailed
from service.core.process import ChildProcessBackend
from service.core.workers import Workers

SENTENCES = [["Mary", "Rossi", "visited", "Oslo", "."], ["Acme", "Corp", "hired", "Kofi"]]


@pytest.fixture(scope="module", params=["in-process", "child-process"])
def backend(request: pytest.FixtureRequest, tiny_model: Path) -> Iterator[Backend]:
    made: Backend
    if request.param == "in-process":
        made = InProcessBackend(Tagger.load(tiny_model, "cpu"))
    else:
        made = ChildProcessBackend.start(tiny_model, "cpu", threads=1)
    yield made
    made.close()


def test_both_implement_the_contract(backend: Backend) -> None:
    assert isinstance(backend, Backend)


def test_describes_the_model_it_serves(backend: Backend, tiny_tagger: Tagger) -> None:
    assert backend.info == describe(tiny_tagger)
    assert backend.info.device == "cpu" and backend.info.parameters > 0
    assert backend.alive


def test_tags_as_the_tagger_does(backend: Backend, tiny_tagger: Tagger) -> None:
    predictions = backend.tag_sentences(SENTENCES)
    assert predictions == tiny_tagger.tag_sentences(SENTENCES)
    assert all(isinstance(p, Prediction) for p in predictions)
    assert [len(p.tags) for p in predictions] == [len(s) for s in SENTENCES]
    assert [len(p.scores) for p in predictions] == [len(s) for s in SENTENCES]


def test_prefix_probabilities_are_those_of_the_tagger(
    backend: Backend, tiny_tagger: Tagger
) -> None:
    prefixes = [["Mary"], ["Mary", "Rossi"], ["Mary", "Rossi", "visited"]]
    labels = [["B-LOC"], ["B-PER", "O"], ["B-PER", "I-PER", "O"]]
    expected = tiny_tagger.probabilities_of(prefixes, labels)
    assert backend.probabilities_of(prefixes, labels) == expected


def test_a_failing_batch_raises_and_the_backend_goes_on(backend: Backend) -> None:
    with pytest.raises(Exception):  # noqa: B017  # what it raises is each one's own
        backend.tag_sentences([[None]])  # type: ignore[list-item]  # not a token
    with pytest.raises(Exception):  # noqa: B017
        backend.probabilities_of([["Mary"]], [["B-NOPE"]])  # not a label of the model
    (prediction,) = backend.tag_sentences([["Oslo"]])
    assert len(prediction.tags) == 1
    assert backend.alive


def test_serves_a_batcher_with_each_callers_own_result(
    backend: Backend, tiny_tagger: Tagger
) -> None:
    async def run() -> list[Prediction]:
        reports: list[BatchReport] = []
        workers = Workers([backend])
        workers.start()
        batcher = Batcher(
            workers,
            max_batch_size=8,
            max_batch_tokens=1024,
            max_wait=0.05,
            max_queue=16,
            on_batch=reports.append,
        )
        await batcher.start()
        try:
            answers = await asyncio.gather(*(batcher.submit([s]) for s in SENTENCES))
        finally:
            await batcher.stop()
            workers.stop()
        assert sum(r.size for r in reports) == len(SENTENCES)
        return [answer[0] for answer in answers]

    assert asyncio.run(run()) == tiny_tagger.tag_sentences(SENTENCES)


def test_a_failure_reaches_the_batchers_caller(backend: Backend) -> None:
    async def run() -> None:
        workers = Workers([backend])
        workers.start()
        batcher = Batcher(workers, max_batch_size=8, max_batch_tokens=1024, max_wait=0, max_queue=8)
        await batcher.start()
        try:
            with pytest.raises(BatchFailed):
                await batcher.submit([[None]])  # type: ignore[list-item]
            with pytest.raises(BatchFailed):  # a deciding call's failure too
                await workers.probabilities_of([["Mary"]], [["B-NOPE"]])
        finally:
            await batcher.stop()
            workers.stop()

    asyncio.run(run())


def test_retiring_keeps_serving_what_is_sent(backend: Backend) -> None:
    # Last in the module: a retired backend replaces nothing, but still answers.
    backend.retire()
    (prediction,) = backend.tag_sentences([["Oslo"]])
    assert len(prediction.tags) == 1
