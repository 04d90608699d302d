"""The model process's side: load the model, then answer the batches that the server's
:class:`service.core.process.ChildProcessBackend` sends down the pipe, one after the other."""

from __future__ import annotations

import gc
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import NamedTuple

import torch


@dataclass(frozen=True, slots=True)
class Failed:
    """Sent back instead of a result: the exception's type name and message."""

    kind: str
    message: str


class ProbabilitiesOf(NamedTuple):
    """Asks the child for :meth:`model.tagger.Tagger.probabilities_of` instead of tags."""

    sentences: list[list[str]]
    labels: list[list[str]]


def serve(conn: Connection, model: str, device: str, threads: int) -> None:
    """The child: load the model, then answer batches until told to stop or orphaned."""
    # Ctrl+C, or a stop signal sent to the process group (`kill -TERM -PGID`, what a shell or
    # `make` passes on), reaches us too: the server drains its requests through us first, then
    # closes us. Left alone, we would die under the requests still being drained.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    torch.set_num_threads(threads)
    try:
        from model.device import resolve_device
        from model.tagger import Tagger
        from service.core.backend import describe

        tagger = Tagger.load(Path(model), resolve_device(device))
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
