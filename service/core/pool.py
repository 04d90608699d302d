"""Several copies of one model, each in a process of its own: :class:`BackendPool`.

One model process computes one batch at a time on one core. With two of them, two batches are
computed side by side (the batcher, given each member's ``tag_sentences``, hands each batch a
free one itself, so that none of the pool's code runs for a batch), which is
what a request of many sentences needs on a machine with a core to spare
(``NER_MODEL_WORKERS``; BENCHMARKS.md, "Where the defaults come from").

A pool may also hold a copy of the model in the server process, for the light load: the
batcher tags a lone small batch with it on the event loop, without the hop to a model process
and back (two process wake-ups, which cost a large part of tagging one sentence on some
machines; ``NER_MODEL_IN_SERVER_TOKENS``).
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

    ``in_server``: a copy of the model in this process, held (loaded, closed) with the
    members for the batcher, which has it tag batches of at most ``in_server_tokens`` tokens
    itself under light load; the pool's own calls never use it.
    """

    def __init__(
        self,
        members: Sequence[Backend],
        *,
        in_server: Backend | None = None,
        in_server_tokens: int = 0,
    ) -> None:
        if not members:
            raise ValueError("a pool needs at least one member")
        self.members = list(members)
        self.info: ModelInfo = self.members[0].info
        self.in_server = in_server
        self.in_server_tokens = in_server_tokens if in_server is not None else 0
        # Last in, first out: under light load one member takes every batch, its caches warm.
        self._free: queue.LifoQueue[Backend] = queue.LifoQueue()
        for member in self.members:
            self._free.put(member)
        self._on_restart: Callable[[], None] | None = None

    @classmethod
    def start(
        cls,
        size: int,
        start: Callable[[], Backend],
        in_server: Callable[[], Backend] | None = None,
        in_server_tokens: int = 0,
    ) -> BackendPool:
        """``size`` members, each made by ``start``, and the copy in the server made by
        ``in_server`` if given, started side by side. If any fails, the others are closed and
        the first failure is raised."""
        with ThreadPoolExecutor(max_workers=size + 1, thread_name_prefix="ner-pool") as threads:
            futures = [threads.submit(start) for _ in range(size)]
            if in_server is not None:
                futures.append(threads.submit(in_server))
            wait(futures)
        errors = [error for f in futures if (error := f.exception()) is not None]
        if errors:
            for future in futures:
                if future.exception() is None:
                    future.result().close()
            raise errors[0]
        backends = [future.result() for future in futures]
        if in_server is None:
            return cls(backends)
        return cls(backends[:-1], in_server=backends[-1], in_server_tokens=in_server_tokens)

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
        backends = self.members + ([self.in_server] if self.in_server is not None else [])
        with ThreadPoolExecutor(max_workers=len(backends), thread_name_prefix="ner-close") as pool:
            for closing in [pool.submit(backend.close) for backend in backends]:
                closing.result()
