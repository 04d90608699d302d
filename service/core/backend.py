"""The one contract for "a copy of a model the service can call": :class:`Backend`.

Two implementations: :class:`InProcessBackend` (a tagger in this process; tests pass stubs
shaped like :class:`model.tagger.Tagger`) and
:class:`service.core.process.ChildProcessBackend` (the tagger in a child process of its own,
what ``bigru-ner serve`` runs). :class:`service.core.workers.Workers` holds them and is the
only one that calls them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from model.pipeline import Prediction


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What ``GET /v1/models`` and ``ner_model_info`` say about a served model."""

    name: str
    labels: list[str]
    bidirectional: bool
    parameters: int
    device: str


class Tags(Protocol):
    """Predictions for token lists, and probabilities of given labels (what a tagger
    computes: :meth:`model.tagger.Tagger.tag_sentences` and ``probabilities_of``)."""

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]: ...

    def probabilities_of(
        self, sentences: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]
    ) -> list[Prediction]: ...


@runtime_checkable
class Backend(Tags, Protocol):
    """A loaded model the service sends batches to.

    ``tag_sentences`` and ``probabilities_of`` are called from a worker thread of
    :class:`service.core.workers.Workers`, one call at a time; ``synchronize`` before each
    clock reading around them. ``alive`` is
    False while the model cannot take a batch (its child process is being replaced). A backend
    that replaces its model calls ``on_restart`` each time; ``retire`` (the server is shutting
    down: replace nothing from now on) must be safe in a signal handler; ``close`` frees it.
    """

    on_restart: Callable[[], None] | None

    @property
    def info(self) -> ModelInfo: ...

    @property
    def alive(self) -> bool: ...

    def synchronize(self) -> None: ...

    def retire(self) -> None: ...

    def close(self) -> None: ...


class _HasParameters(Protocol):
    def parameters(self) -> Iterator[torch.nn.Parameter]: ...


class _HasNetwork(Protocol):
    @property
    def network(self) -> _HasParameters: ...


class TaggerLike(Tags, Protocol):
    """What :class:`InProcessBackend` needs from a tagger (:class:`model.tagger.Tagger`)."""

    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> list[str]: ...

    @property
    def bidirectional(self) -> bool: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def model(self) -> _HasNetwork: ...


def device_name(device: torch.device) -> str:
    """``cpu``, or ``cuda:N`` with the index filled in."""
    if device.type == "cuda" and device.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(device)


def describe(tagger: TaggerLike) -> ModelInfo:
    """Name, labels, direction, size and device of ``tagger``."""
    parameters = sum(p.numel() for p in tagger.model.network.parameters())
    return ModelInfo(
        tagger.name,
        list(tagger.labels),
        tagger.bidirectional,
        parameters,
        device_name(tagger.device),
    )


class InProcessBackend:
    """A tagger in this process: batches run in a worker thread (sharing the GIL with the
    event loop), or, as the copy in the server, on the event loop itself. Nothing restarts,
    so ``on_restart`` is never called; ``retire`` and ``close`` have nothing to do (the tagger
    is freed with the last reference to it)."""

    def __init__(self, tagger: TaggerLike) -> None:
        self.tagger = tagger
        self.info = describe(tagger)
        self.on_restart: Callable[[], None] | None = None
        device = tagger.device
        # On CUDA, the compute time must cover the kernels, not only their launch.
        self._synchronize = (
            (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
        )

    @property
    def alive(self) -> bool:
        """Always: the model lives as long as this process."""
        return True

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        """:meth:`model.tagger.Tagger.tag_sentences`."""
        return self.tagger.tag_sentences(sentences)

    def probabilities_of(
        self, sentences: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]
    ) -> list[Prediction]:
        """:meth:`model.tagger.Tagger.probabilities_of`."""
        return self.tagger.probabilities_of(sentences, labels)

    def synchronize(self) -> None:
        """Wait for the device's queued work (CUDA); nothing to wait for on the CPU."""
        if self._synchronize is not None:
            self._synchronize()

    def retire(self) -> None:
        """Nothing is ever replaced."""

    def close(self) -> None:
        """Nothing to free."""
