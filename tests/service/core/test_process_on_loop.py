"""The child process called from the event loop (``tag_sentences_async``): the same answers as
from a thread, its turn kept with calls from threads, a dead child replaced, and the pipe
still in order after a call is cancelled."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.tagger import Tagger
from service.core.process import ChildProcessBackend
from tests.service.core.test_process import _kill_child

pytestmark = pytest.mark.anyio

SENTENCES = [["Mary", "Rossi", "visited", "Oslo", "."], ["Acme", "Corp", "hired", "Kofi"]]


@pytest.fixture(scope="module")
def process(tiny_model: Path) -> Iterator[ChildProcessBackend]:
    started = ChildProcessBackend.start(tiny_model, "cpu", threads=1)
    yield started
    started.close()


async def test_answers_as_a_call_from_a_thread_does(
    process: ChildProcessBackend, tiny_tagger: Tagger
) -> None:
    assert await process.tag_sentences_async(SENTENCES) == tiny_tagger.tag_sentences(SENTENCES)
    assert not process._lock.locked()


async def test_waits_its_turn_while_a_thread_holds_the_child(
    process: ChildProcessBackend, tiny_tagger: Tagger
) -> None:
    other = [["Oslo"]]
    answers: list[object] = []
    process._lock.acquire()  # a call from a thread is using the pipe
    try:
        pending = asyncio.ensure_future(process.tag_sentences_async(SENTENCES))
        await asyncio.sleep(0.2)
        assert not pending.done()
    finally:
        process._lock.release()
    thread = threading.Thread(target=lambda: answers.append(process.tag_sentences(other)))
    thread.start()
    assert await pending == tiny_tagger.tag_sentences(SENTENCES)
    await asyncio.to_thread(thread.join)
    assert answers == [tiny_tagger.tag_sentences(other)]


async def test_a_cancelled_call_leaves_the_next_its_own_answer(
    process: ChildProcessBackend, tiny_tagger: Tagger
) -> None:
    many = SENTENCES * 200  # long enough to be still in the child when cancelled
    pending = asyncio.ensure_future(process.tag_sentences_async(many))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    other = [["Kofi", "visited", "Acme", "Corp"]]
    assert await process.tag_sentences_async(other) == tiny_tagger.tag_sentences(other)
    assert not process._lock.locked()


async def test_a_batch_sent_to_a_dead_child_is_tagged_by_its_replacement(
    tiny_model: Path, tiny_tagger: Tagger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ChildProcessBackend, "_watch", lambda self: None)  # only the call sees
    started = ChildProcessBackend.start(tiny_model, "cpu", threads=1)
    try:
        _kill_child(started)
        assert await started.tag_sentences_async(SENTENCES) == tiny_tagger.tag_sentences(SENTENCES)
        assert started.alive and started.restarts == 1
    finally:
        started.close()
