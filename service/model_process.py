"""The model in a child process of its own, tagging the batches that the server sends it.

In the server process the model would share the GIL with the event loop. Decoding a batch
calls a few hundred small tensor operations, and each of them gives the GIL up and has to
wait for it back while the event loop runs Python (up to ``sys.getswitchinterval()``, 5 ms,
each time): the two threads take turns instead of running side by side, and the server never
used more than one of the machine's cores. The batcher's worker thread now only sends a batch
down a pipe and waits for the answer, without holding the GIL.
"""

from __future__ import annotations

import gc
import multiprocessing
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import torch

from service.pipeline import ModelInfo

#: Seconds the child gets to load the model (CUDA start-up included).
_START_TIMEOUT = 300.0


class ModelProcessError(RuntimeError):
    """The model process failed: it could not start, or it died."""


@dataclass(frozen=True, slots=True)
class _Failed:
    """Sent back instead of a result: the exception's type name and message."""

    kind: str
    message: str


class ModelProcess:
    """A :class:`model.tagger.Tagger` running in a child process (``spawn``, so CUDA works).

    Start it with :meth:`start`; :meth:`tag_sentences` then takes one batch at a time (calls
    from several threads are serialised), and :meth:`close` ends the child.
    """

    def __init__(self, process: multiprocessing.process.BaseProcess, conn: Connection) -> None:
        self._process = process
        self._conn = conn
        self._lock = threading.Lock()
        self.info: ModelInfo | None = None

    @classmethod
    def start(cls, model: Path, device: str, threads: int) -> ModelProcess:
        """Start the child and wait until it has loaded ``model`` on ``device``.

        Raises :class:`model.artifact.ArtifactError` (with the child's message) for a bad
        model directory, :class:`ModelProcessError` for anything else that stops it.
        """
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, str(model), device, threads),
            name="ner-model",
            daemon=True,  # never outlives the server, however that ends
        )
        process.start()
        theirs.close()
        started = cls(process, ours)
        if not ours.poll(_START_TIMEOUT):
            started.close()
            raise ModelProcessError(f"the model process did not start in {_START_TIMEOUT:.0f} s")
        try:
            reply = ours.recv()
        except EOFError:
            started.close()
            raise ModelProcessError(
                f"the model process exited while starting (exit code {process.exitcode})"
            ) from None
        if isinstance(reply, _Failed):
            started.close()
            if reply.kind == "ArtifactError":
                from model.artifact import ArtifactError

                raise ArtifactError(reply.message)
            raise ModelProcessError(f"the model process failed to start: {reply.message}")
        assert isinstance(reply, ModelInfo)
        started.info = reply
        return started

    @property
    def device(self) -> torch.device:
        """The device the child computes on (only named here: CUDA is never touched)."""
        assert self.info is not None
        return torch.device(self.info.device)

    def tag_sentences(
        self, sentences: Sequence[Sequence[str]]
    ) -> tuple[list[list[str]], list[list[float]]]:
        """Tags and tag probabilities of each token list, computed by the child.

        The answer arrives once the tags are on the host, so on CUDA the time this takes
        covers the kernels. The child's exceptions are raised here as :class:`RuntimeError`
        naming their type; :class:`ModelProcessError` if the child is gone.
        """
        with self._lock:
            try:
                self._conn.send([list(s) for s in sentences])
                reply = self._conn.recv()
            except (EOFError, OSError) as error:
                raise ModelProcessError(
                    f"the model process is gone (exit code {self._process.exitcode})"
                ) from error
        if isinstance(reply, _Failed):
            raise RuntimeError(f"{reply.kind}: {reply.message}")
        tags, scores = reply
        return tags, scores

    def close(self) -> None:
        """Ask the child to stop, and make sure that it has."""
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass  # already gone
        self._conn.close()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _serve(conn: Connection, model: str, device: str, threads: int) -> None:
    """The child: load the model, then answer batches until told to stop or orphaned."""
    # Ctrl+C reaches the whole process group; the server shuts down first, then closes us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    try:
        from model.tagger import Tagger
        from model.train import resolve_device
        from service.pipeline import describe

        tagger = Tagger.load(Path(model), resolve_device(device))
        conn.send(describe(tagger))
    except Exception as error:  # sent to the server, which reports it and exits
        conn.send(_Failed(type(error).__name__, str(error)))
        return
    gc.collect()
    gc.freeze()  # the vocabulary alone is 200k objects that a full collection would scan
    while True:
        try:
            sentences = conn.recv()
        except EOFError:  # the server is gone
            return
        if sentences is None:
            return
        try:
            with torch.inference_mode():
                answer: object = tagger.tag_sentences(sentences)
        except Exception as error:  # the batch fails, the process goes on
            answer = _Failed(type(error).__name__, str(error))
        conn.send(answer)
