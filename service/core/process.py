"""The child-process :class:`service.core.backend.Backend`: the tagger in a process of its own,
tagging the batches that the server sends it down a pipe.

In the server process the model would share the GIL with the event loop and take turns with
it instead of running beside it (BENCHMARKS.md, "Where the defaults come from"); the
batcher's worker thread here only sends a batch and waits for the answer, without holding the
GIL.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from model.pipeline import Prediction
from service.core.backend import ModelInfo
from service.core.child import Failed, ModelProcessError, ProbabilitiesOf, Spec, ended, launch, stop

#: Longest wait between attempts to replace a child that cannot start.
_MAX_RESTART_PAUSE = 30.0

log = logging.getLogger(__name__)

__all__ = ["ChildProcessBackend", "ModelProcessError"]


class ChildProcessBackend:
    """A :class:`model.tagger.Tagger` in a child process (``spawn``, so CUDA works).

    Start it with :meth:`start`; :meth:`tag_sentences` then takes one batch at a time (calls
    from several threads are serialised), and :meth:`close` ends the child. A child that dies
    (killed for memory, say) is replaced by a new one loading the same model: at once by a
    watching thread, or by the call that found it gone, which then sends its batch again; but
    not once :meth:`retire` (the server is shutting down) or :meth:`close` was called.
    """

    def __init__(
        self,
        spec: Spec,
        process: multiprocessing.process.BaseProcess,
        conn: Connection,
        info: ModelInfo,
    ) -> None:
        self._spec = spec
        self._process = process
        self._conn = conn
        self._lock = threading.Lock()
        self._closing = False
        #: Set when the server begins to shut down: the child still takes batches, but one
        #: that dies is not replaced.
        self._retiring = False
        #: Set while the last attempt to start a new child failed: then only the watcher,
        #: with its pauses, tries again, not every batch.
        self._start_failed = False
        self.info = info
        #: Children that died and were replaced.
        self.restarts = 0
        #: Called after each replacement (the service counts them).
        self.on_restart: Callable[[], None] | None = None
        threading.Thread(target=self._watch, name="ner-model-watch", daemon=True).start()

    @classmethod
    def start(
        cls,
        model: Path,
        device: str,
        threads: int = 1,
        nice: int = 0,
        call_cost: int | None = None,
    ) -> ChildProcessBackend:
        """Start the child and wait until it has loaded ``model`` on ``device`` (with
        ``threads`` torch threads, ``nice`` added to its niceness, and ``call_cost`` for
        :class:`model.tagger.Tagger`).

        Raises :class:`model.artifact.ArtifactError` (with the child's message) for a bad
        model directory, :class:`ModelProcessError` for anything else that stops it.
        """
        spec = Spec(model, device, threads, nice, call_cost)
        return cls(spec, *launch(spec))

    @property
    def alive(self) -> bool:
        """Whether a child is up to take batches: False while one is dead or starting (the
        dead one is kept until its replacement has loaded the model)."""
        return self._process.exitcode is None  # is_alive's answer with one system call, not two

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        """Tags and tag probabilities of each token list, computed by the child.

        The answer arrives once the tags are on the host, so on CUDA the time this takes
        covers the kernels. The child's exceptions are raised here as :class:`RuntimeError`
        naming their type. If the child is gone, a new one takes the batch; if that one dies
        on it too, cannot start, or a new one failed to start already,
        :class:`ModelProcessError`.
        """
        return self._call([list(s) for s in sentences])

    def probabilities_of(
        self, sentences: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]
    ) -> list[Prediction]:
        """:meth:`model.tagger.Tagger.probabilities_of`, computed by the child (errors as
        :meth:`tag_sentences`)."""
        return self._call(ProbabilitiesOf([list(s) for s in sentences], [list(x) for x in labels]))

    def _call(self, batch: object) -> list[Prediction]:
        """The child's answer to ``batch``: token lists, or a :class:`ProbabilitiesOf`."""
        with self._lock:
            try:
                reply = self._ask(batch)
            except ModelProcessError:
                if self._closing:
                    raise
                if self._retiring:
                    message = f"the model process {self._ended()} while the server shuts down"
                    raise ModelProcessError(message) from None
                if self._start_failed:
                    message = "the model process died and a new one failed to start; retrying"
                    raise ModelProcessError(message) from None
                self._restart()
                reply = self._ask(batch)
        if isinstance(reply, Failed):
            raise RuntimeError(f"{reply.kind}: {reply.message}")
        predictions: list[Prediction] = reply
        return predictions

    def synchronize(self) -> None:
        """Nothing to wait for: answers come back once the tags are on the host (and this
        process must not touch CUDA)."""

    def retire(self) -> None:
        """The server is shutting down: keep serving the batches it still sends, but never
        start a new child from now on. Safe to call from a signal handler (takes no lock)."""
        self._retiring = True

    def close(self) -> None:
        """Ask the child to stop, and make sure that it has."""
        self._retiring = True
        with self._lock:
            self._closing = True
            stop(self._process, self._conn)

    def _ask(self, batch: object) -> Any:
        if self._closing:
            raise ModelProcessError("the model process is gone: it was closed")
        try:
            self._conn.send(batch)
            return self._conn.recv()
        except (EOFError, OSError) as error:
            raise ModelProcessError(f"the model process {self._ended()}") from error

    def _ended(self) -> str:
        """How the child ended, waiting a moment for its exit status (its pipe closes first).

        Another thread may be reaping the same child (``join`` in a caller): its status then
        reaches this one a moment after the child is gone, so it is read again until it does.
        """
        deadline = time.monotonic() + 5
        self._process.join(timeout=5)
        while self._process.exitcode is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return ended(self._process.exitcode)

    def _restart(self) -> None:
        """Replace the dead child (the lock is held). A child that cannot start leaves the
        dead one in place, so the next call or the watcher tries again."""
        log.error("the model process %s: starting a new one", self._ended())
        try:
            stop(self._process, self._conn)
            self._process, self._conn, _ = launch(self._spec)
        except Exception as error:  # a bad model directory included: it was good at start
            self._start_failed = True
            raise ModelProcessError(f"a new model process failed to start: {error}") from error
        self._start_failed = False
        self.restarts += 1
        log.warning("a new model process serves %s", self.info.name)
        if self.on_restart is not None:
            self.on_restart()

    def _watch(self) -> None:
        """Replace the child as soon as it dies, so that readiness and the next batch need not
        wait for it; retries a child that cannot start, waiting longer each time."""
        pause = 1.0
        while True:
            process = self._process
            wait([process.sentinel])
            with self._lock:
                if self._closing:
                    return
                if self._process is not process:  # a caller replaced it already
                    continue
                if self._retiring:
                    log.warning(
                        "the model process %s while the server shuts down: not replaced",
                        self._ended(),
                    )
                    return
                try:
                    self._restart()
                    pause = 1.0
                    continue
                except Exception:
                    log.exception("the new model process failed to start")
            time.sleep(pause)
            pause = min(2 * pause, _MAX_RESTART_PAUSE)
