"""The model process's side: what a :class:`service.core.process.ChildProcessBackend` starts
(:func:`launch`), what runs in it (:func:`serve`), and how it is stopped (:func:`stop`)."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import NamedTuple

import torch

from service.core.backend import ModelInfo
from service.core.errors import ModelUnavailable

#: Seconds the child gets to load the model (CUDA start-up included).
START_TIMEOUT = 300.0


class ModelProcessError(ModelUnavailable):
    """The model process failed: it could not start, or it died."""


@dataclass(frozen=True, slots=True)
class Failed:
    """Sent back instead of a result: the exception's type name and message."""

    kind: str
    message: str


class ProbabilitiesOf(NamedTuple):
    """Asks the child for :meth:`model.tagger.Tagger.probabilities_of` instead of tags."""

    sentences: list[list[str]]
    labels: list[list[str]]


class Spec(NamedTuple):
    """What a child loads: everything needed to start another one like it."""

    model: Path
    device: str
    threads: int
    #: Added to the child's niceness (Linux): its priority against the server's event loop.
    nice: int = 0
    #: :class:`model.tagger.Tagger`'s ``call_cost``.
    call_cost: int | None = None


def ended(exitcode: int | None) -> str:
    """Why a child process ended, from its exit code (negative: the signal that killed it)."""
    if exitcode is None:
        return "ended (exit status unknown)"
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


def launch(spec: Spec) -> tuple[multiprocessing.process.BaseProcess, Connection, ModelInfo]:
    """Start a child and wait until it has loaded the model (:meth:`ChildProcessBackend.start`)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=serve,
        args=(theirs, spec),
        name="ner-model",
        daemon=True,  # never outlives the server, however that ends
    )
    process.start()
    theirs.close()
    try:
        reply = _first_reply(process, ours)
    except BaseException:
        stop(process, ours)
        raise
    return process, ours, reply


def _first_reply(process: multiprocessing.process.BaseProcess, conn: Connection) -> ModelInfo:
    if not conn.poll(START_TIMEOUT):
        raise ModelProcessError(f"the model process did not start in {START_TIMEOUT:.0f} s")
    try:
        reply = conn.recv()
    except EOFError:
        process.join(timeout=10)
        raise ModelProcessError(
            f"the model process exited while starting (exit code {process.exitcode})"
        ) from None
    if isinstance(reply, Failed):
        if reply.kind == "ArtifactError":
            from model.artifact import ArtifactError

            raise ArtifactError(reply.message)
        raise ModelProcessError(f"the model process failed to start: {reply.message}")
    assert isinstance(reply, ModelInfo)
    return reply


def stop(process: multiprocessing.process.BaseProcess, conn: Connection) -> None:
    """Ask a child to stop, and make sure that it has."""
    try:
        conn.send(None)
    except (OSError, ValueError):
        pass  # already gone
    conn.close()
    process.join(timeout=10)
    if process.is_alive():
        process.kill()
        process.join()


def serve(conn: Connection, spec: Spec) -> None:
    """The child: load the model, then answer batches until told to stop or orphaned."""
    # Ctrl+C, or a stop signal sent to the process group (`kill -TERM -PGID`, what a shell or
    # `make` passes on), reaches us too: the server drains its requests through us first, then
    # closes us. Left alone, we would die under the requests still being drained.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    torch.set_num_threads(spec.threads)
    if spec.nice:
        os.nice(spec.nice)
    try:
        from model.device import resolve_device
        from model.tagger import Tagger
        from service.core.backend import describe

        tagger = Tagger.load(spec.model, resolve_device(spec.device), spec.call_cost)
        conn.send(describe(tagger))
    except Exception as error:  # sent to the server, which reports it and exits
        conn.send(Failed(type(error).__name__, str(error)))
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
                if isinstance(sentences, ProbabilitiesOf):
                    answer: object = tagger.probabilities_of(sentences.sentences, sentences.labels)
                else:
                    answer = tagger.tag_sentences(sentences)
        except Exception as error:  # the batch fails, the process goes on
            answer = Failed(type(error).__name__, str(error))
        conn.send(answer)
