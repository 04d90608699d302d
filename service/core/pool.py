"""Several copies of one model, each in a process of its own: :class:`BackendPool`.

One model process computes one batch at a time on one core. With two of them, two batches are
computed side by side (the batcher sends as many at once as the pool has members), which is
what a request of many sentences needs on a machine with a core to spare
(``NER_MODEL_WORKERS``; BENCHMARKS.md, "Where the defaults come from").
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

from service.core.backend import Backend, ModelInfo, TagsAndScores


class BackendPool:
    """A :class:`service.core.backend.Backend` made of ``members`` loading the same model.

    Each call takes a member that no other call is using, waiting for one if all are busy,
    so up to ``len(members)`` calls run at once from as many threads. The pool is alive while
    any member is (a dead member is replaced by its own backend); ``on_restart``, ``retire``
    and ``close`` reach every member.
    """

    def __init__(self, members: Sequence[Backend]) -> None:
        if not members:
            raise ValueError("a pool needs at least one member")
        self.members = list(members)
        # Last in, first out: under light load one member takes every batch, its caches warm.
        self._free: queue.LifoQueue[Backend] = queue.LifoQueue()
        for member in self.members:
            self._free.put(member)
        self._on_restart: Callable[[], None] | None = None

    @classmethod
    def start(cls, size: int, start: Callable[[], Backend]) -> BackendPool:
        """``size`` members, each made by ``start``, started side by side. If any fails, the
        others are closed and the first failure is raised."""
        with ThreadPoolExecutor(max_workers=size, thread_name_prefix="ner-pool") as threads:
            futures = [threads.submit(start) for _ in range(size)]
            wait(futures)
        errors = [error for f in futures if (error := f.exception()) is not None]
        if errors:
            for future in futures:
                if future.exception() is None:
                    future.result().close()
            raise errors[0]
        return cls([future.result() for future in futures])

    @property
    def size(self) -> int:
        """How many calls can run at once."""
        return len(self.members)

    @property
    def info(self) -> ModelInfo:
        return self.members[0].info

    @property
    def alive(self) -> bool:
        """Whether some member can take a batch."""
        return any(member.alive for member in self.members)

    @property
    def on_restart(self) -> Callable[[], None] | None:
        """Called after any member replaced its model."""
        return self._on_restart

    @on_restart.setter
    def on_restart(self, callback: Callable[[], None] | None) -> None:
        self._on_restart = callback
        for member in self.members:
            member.on_restart = callback

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> TagsAndScores:
        """Tags and tag probabilities of each token list, computed by a free member."""
        member = self._free.get()
        try:
            return member.tag_sentences(sentences)
        finally:
            self._free.put(member)

    def probabilities_of(
        self, sentences: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]
    ) -> TagsAndScores:
        """:meth:`model.tagger.Tagger.probabilities_of`, computed by a free member."""
        member = self._free.get()
        try:
            return member.probabilities_of(sentences, labels)
        finally:
            self._free.put(member)

    def synchronize(self) -> None:
        for member in self.members:
            member.synchronize()

    def retire(self) -> None:
        """Safe in a signal handler, as each member's is."""
        for member in self.members:
            member.retire()

    def close(self) -> None:
        """Close the members side by side: a model process takes seconds to stop."""
        with ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="ner-close") as threads:
            for closing in [threads.submit(member.close) for member in self.members]:
                closing.result()
