"""The batcher on its own, without HTTP: batching, deadlines, budgets, failures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from model.pipeline import Prediction
from service.core.batching import BatchReport
from service.core.errors import BatchFailed, BatchMismatch
from tests.service.core.batchers import running, sentence
from tests.service.support import StubTagger, stub_tags, wait_until

pytestmark = pytest.mark.anyio


async def test_concurrent_submits_share_one_batch(stub: StubTagger) -> None:
    reports: list[BatchReport] = []
    # A long wait: only reaching max_batch_size can close this batch in time.
    async with running(stub, reports, max_batch_size=5, max_wait=30) as batcher:
        inputs = [["Mary", "left"], ["we", "met", "Olga", "Berg"], ["x"], ["Paris"], ["a", "B"]]
        async with asyncio.timeout(10):
            results = await asyncio.gather(*(batcher.submit([s]) for s in inputs))
    assert [len(b) for b in stub.batches] == [5]
    assert reports[0].closed_by == "size" and reports[0].size == 5 and reports[0].tokens == 10
    for tokens, (result,) in zip(inputs, results, strict=True):
        assert result == Prediction(stub_tags(tokens), [0.5] * len(tokens))


async def test_deadline_closes_a_partial_batch(stub: StubTagger) -> None:
    reports: list[BatchReport] = []
    async with running(stub, reports, max_batch_size=8, max_wait=0.2) as batcher:
        (result,) = await batcher.submit([["Kofi", "Berg"]])
    assert result.tags == ["B-PER", "I-PER"]
    assert [len(b) for b in stub.batches] == [1]
    assert reports[0].closed_by == "deadline"
    assert reports[0].queue_waits[0] >= 0.2  # it waited for company until the deadline


async def test_sentences_arriving_within_the_wait_join_the_batch(stub: StubTagger) -> None:
    reports: list[BatchReport] = []
    async with running(stub, reports, max_batch_size=8, max_wait=0.5) as batcher:
        first = asyncio.create_task(batcher.submit([["early"]]))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(batcher.submit([["late"]]))
        await asyncio.gather(first, second)
    assert stub.batches == [[["early"], ["late"]]]
    assert reports[0].closed_by == "deadline"


async def test_a_sentence_that_waited_for_the_model_does_not_wait_again(
    stub: StubTagger,
) -> None:
    stub.gate.clear()
    async with running(stub, max_batch_size=8, max_wait=1.0) as batcher:
        held = asyncio.create_task(batcher.submit([["held"]]))
        await wait_until(lambda: stub.batches)  # alone, after a second's wait: now in the model
        queued = asyncio.create_task(batcher.submit([["queued"]]))
        await asyncio.sleep(1.1)  # longer than max_wait, while the model is busy
        released = time.monotonic()
        stub.gate.set()
        await held
        async with asyncio.timeout(10):
            await queued
        # The wait counts from its arrival: its batch goes to the model once the first is done.
        assert time.monotonic() - released < 0.5
    assert stub.batches == [[["held"]], [["queued"]]]


async def test_token_budget_counts_padding(stub: StubTagger) -> None:
    reports: list[BatchReport] = []
    async with running(stub, reports, max_batch_tokens=12) as batcher:
        # Three 1-token sentences fit (3 padded tokens); a 9-token one would pad all to 36.
        await batcher.submit([sentence(1), sentence(1), sentence(1), sentence(9)])
    assert [[len(s) for s in b] for b in stub.batches] == [[1, 1, 1], [9]]
    assert reports[0].closed_by == "tokens"


async def test_sentence_longer_than_the_budget_runs_alone(stub: StubTagger) -> None:
    async with running(stub, max_batch_tokens=4) as batcher:
        (result,) = await batcher.submit([sentence(10)])
    assert len(result.tags) == 10
    assert [[len(s) for s in b] for b in stub.batches] == [[10]]


async def test_a_batch_goes_to_the_model_as_it_came(stub: StubTagger) -> None:
    # Sorting by length is the model's own (model.features.tag_sentences), not the batcher's.
    inputs = [sentence(3, "a"), sentence(1, "b"), sentence(2, "c")]
    async with running(stub) as batcher:
        results = await batcher.submit(inputs)
    assert stub.batches == [inputs]
    assert [len(r.tags) for r in results] == [3, 1, 2]


async def test_max_batch_size_one_turns_batching_off(stub: StubTagger) -> None:
    async with running(stub, max_batch_size=1, max_wait=30) as batcher:
        async with asyncio.timeout(10):
            await asyncio.gather(*(batcher.submit([sentence(2)]) for _ in range(6)))
    assert [len(b) for b in stub.batches] == [1] * 6


async def test_many_sentences_are_split_across_batches_and_come_back_in_order(
    stub: StubTagger,
) -> None:
    inputs = [[f"Name{i}", "said", "hello"][: 1 + i % 3] for i in range(11)]
    inputs.insert(4, [])  # an empty sentence needs no model
    async with running(stub, max_batch_size=3) as batcher:
        results = await batcher.submit(inputs)
    assert len(stub.batches) >= 4
    assert [r.tags for r in results] == [stub_tags(s) for s in inputs]
    assert results[4] == Prediction([], [])


async def test_failing_batch_reaches_every_caller_and_the_batcher_goes_on(
    stub: StubTagger,
) -> None:
    stub.fail_next = RuntimeError("CUDA out of memory")
    async with running(stub, max_batch_size=3, max_wait=30) as batcher:
        async with asyncio.timeout(10):
            outcomes = await asyncio.gather(
                *(batcher.submit([sentence(2)]) for _ in range(3)), return_exceptions=True
            )
        for outcome in outcomes:
            assert isinstance(outcome, BatchFailed)
            assert isinstance(outcome.__cause__, RuntimeError)
            assert "CUDA out of memory" in str(outcome)
        assert batcher.running
        async with asyncio.timeout(10):
            results = await asyncio.gather(*(batcher.submit([["Mary"]]) for _ in range(3)))
    assert [r[0].tags for r in results] == [["B-PER"]] * 3


class ShortChanging(StubTagger):
    """A model that drops a result, or a tag."""

    def __init__(self, drop: str) -> None:
        super().__init__()
        self.drop = drop

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        predictions = super().tag_sentences(sentences)
        if self.drop == "sentence":
            return predictions[:-1]
        return [Prediction(p.tags[:-1], p.scores) for p in predictions]


@pytest.mark.parametrize("drop", ["sentence", "tag"])
async def test_result_count_is_checked(drop: str) -> None:
    async with running(ShortChanging(drop)) as batcher:
        with pytest.raises(BatchFailed) as caught:
            await batcher.submit([sentence(2), sentence(3)])
        assert batcher.running  # and it goes on serving
    assert isinstance(caught.value.__cause__, BatchMismatch)
