"""The copies of one served model and the one place that decides which computes what:
:class:`Workers`.

A batch goes to a free backend (a model process, or the model in this process), the one freed
last (its caches warm), in a worker thread that only waits for it; while one batch computes,
another goes out only once enough tokens wait (small batches cost more per sentence, and the
one computing soon takes them all in). Under light load (its request the only one in
progress, no other batch out) a small batch is tagged by a copy of the model in the server,
on the event loop, saving the hop to a model process and back. The deciding-word calls of
``/v1/compare`` take a free backend the same way. BENCHMARKS.md, "Where the defaults come
from", has the figures behind each rule.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import torch

from model.pipeline import Prediction
from service.core.backend import Backend, ModelInfo
from service.core.errors import BatchFailed, BatchMismatch

_T = TypeVar("_T")
log = logging.getLogger(__name__)


class Workers:
    """The ``backends`` that compute one model's batches (at least one), and ``copy``, a copy
    of the model in the server for batches of at most ``copy_tokens`` tokens under light load.

    ``spill_tokens``: tokens that must wait before a second batch goes out while one
    computes. ``light_load`` says when the copy may be used (the app that serves the model
    sets it: its request is the only one in progress).
    """

    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        copy: Backend | None = None,
        copy_tokens: int = 0,
        spill_tokens: int = 0,
    ) -> None:
        if not backends:
            raise ValueError("a model needs at least one backend")
        self.backends = list(backends)
        self.info: ModelInfo = self.backends[0].info
        self.copy = copy
        self.copy_tokens = copy_tokens if copy is not None else 0
        self.spill_tokens = spill_tokens
        self.light_load: Callable[[], bool] = lambda: False
        self._free = list(self.backends)  # the one freed last at the end
        # Made again in start(): an asyncio.Event binds to the loop it is first used in.
        self._changed = asyncio.Event()  # a backend was freed, or sentences arrived
        self._threads: ThreadPoolExecutor | None = None

    @property
    def size(self) -> int:
        """How many batches can compute at once."""
        return len(self.backends)

    @property
    def alive(self) -> bool:
        """Whether some backend can take a batch (a model process that died is down until
        its replacement has loaded the model)."""
        return any(backend.alive for backend in self.backends)

    @property
    def on_restart(self) -> Callable[[], None] | None:
        """Called after any model process was replaced."""
        return self.backends[0].on_restart

    @on_restart.setter
    def on_restart(self, callback: Callable[[], None] | None) -> None:
        for backend in self.backends:
            backend.on_restart = callback

    def notify(self) -> None:
        """Sentences arrived: :meth:`take` looks at the waiting tokens again (while no backend
        is free, it waits for one to be given back instead)."""
        if self._free:
            self._changed.set()

    async def take(self, waiting_tokens: Callable[[], int] | None = None) -> Backend:
        """A free backend, once one is free; for a batch (``waiting_tokens`` given), only
        once at least ``spill_tokens`` tokens wait (``waiting_tokens()``) while another batch
        computes."""
        while not self._free or (
            waiting_tokens is not None
            and len(self._free) < self.size
            and waiting_tokens() < self.spill_tokens
        ):
            self._changed.clear()
            await self._changed.wait()
        # The one freed last that is alive: a model process that died waits for its
        # replacement, which a batch sent to it would wait for too.
        for i in range(len(self._free) - 1, -1, -1):
            if self._free[i].alive:
                return self._free.pop(i)
        return self._free.pop()

    def give_back(self, backend: Backend) -> None:
        """Free ``backend``, taken with :meth:`take` and not given work."""
        self._free.append(backend)
        self._changed.set()

    async def tag(
        self, backend: Backend, sentences: list[list[str]]
    ) -> tuple[list[Prediction], float, bool]:
        """``sentences`` tagged by ``backend`` (taken with :meth:`take`, given back here before
        this returns), or by the copy in the server when the load is light: the predictions,
        the compute seconds, and whether the copy tagged them. Raises :class:`BatchMismatch`
        when the model's answer does not fit the sentences."""
        try:
            if not sentences:
                return [], 0.0, False
            if self._copy_takes(sentences):
                assert self.copy is not None
                predictions, seconds = _timed(self.copy.tag_sentences, lambda: None, sentences)
                return _checked(sentences, predictions), seconds, True
            loop = asyncio.get_running_loop()
            predictions, seconds = await loop.run_in_executor(
                self._threads, _timed, backend.tag_sentences, backend.synchronize, sentences
            )
        finally:
            self.give_back(backend)  # before the callers are answered: the next batch first
        return _checked(sentences, predictions), seconds, False

    def _copy_takes(self, sentences: list[list[str]]) -> bool:
        if self.copy_tokens == 0 or len(self._free) != self.size - 1:  # another batch is out
            return False
        return sum(len(s) for s in sentences) <= self.copy_tokens and self.light_load()

    async def probabilities_of(
        self, sentences: list[list[str]], labels: list[list[str]]
    ) -> list[Prediction]:
        """:meth:`model.tagger.Tagger.probabilities_of`, a model call of its own on a free
        backend; :class:`BatchFailed` if it fails."""
        backend = await self.take()
        loop = asyncio.get_running_loop()
        try:
            predictions, _ = await loop.run_in_executor(
                self._threads,
                _timed,
                backend.probabilities_of,
                backend.synchronize,
                sentences,
                labels,
            )
            return _checked(sentences, predictions)
        except Exception as error:  # the cause goes to the log; callers learn only the failure
            log.exception("a model call of its own failed")
            raise BatchFailed(f"the model failed on a call: {error!r}") from error
        finally:
            self.give_back(backend)

    def start(self) -> None:
        """Get ready to take batches in the running event loop."""
        self._changed = asyncio.Event()
        self._threads = ThreadPoolExecutor(self.size, thread_name_prefix="ner-model")

    def stop(self) -> None:
        """Stop the worker threads, once no batch is out (the backends stay open: they are
        closed by whoever loaded them)."""
        if self._threads is not None:
            self._threads.shutdown(wait=True)

    def retire(self) -> None:
        """The server is shutting down: no model process is replaced from now on. Safe in a
        signal handler, as each backend's is."""
        for backend in self.backends:
            backend.retire()


def _timed(
    function: Callable[..., _T], synchronize: Callable[[], None], *args: Any
) -> tuple[_T, float]:
    """``function(*args)`` under ``torch.inference_mode()`` (thread-local: entered in the thread
    that computes), and the seconds it took, its device's queued work included."""
    with torch.inference_mode():
        synchronize()
        started = time.perf_counter()
        result = function(*args)
        synchronize()
    return result, time.perf_counter() - started


def _checked(sentences: list[list[str]], predictions: list[Prediction]) -> list[Prediction]:
    """The model's answer, once it is known to hold a prediction per token of each sentence."""
    if len(predictions) != len(sentences):
        message = f"{len(predictions)} predictions for {len(sentences)} sentences"
        raise BatchMismatch(f"model returned {message}")
    for tokens, prediction in zip(sentences, predictions, strict=True):
        if not len(tokens) == len(prediction.tags) == len(prediction.scores):
            raise BatchMismatch(f"model returned {len(prediction.tags)} tags, {len(tokens)} tokens")
    return predictions
