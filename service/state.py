"""What one app holds at run time: its settings, metrics, models and their batchers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from service.batching import Batcher
from service.metrics import Metrics
from service.model_process import ModelProcess
from service.pipeline import ModelInfo, TaggerLike
from service.settings import Settings


@dataclass(frozen=True, slots=True)
class Served:
    """A model being served: its tagger, its description and the batcher in front of it."""

    tagger: TaggerLike | ModelProcess
    info: ModelInfo
    batcher: Batcher

    @property
    def up(self) -> bool:
        """Whether its batcher runs and the model can take a batch (a model process that died
        is down until its replacement has loaded the model)."""
        alive = not isinstance(self.tagger, ModelProcess) or self.tagger.alive
        return alive and self.batcher.running


@dataclass
class Service:
    """The state of one app, kept in ``app.state.service``; the lifespan fills it in.

    ``main`` serves ``/v1/tag``; ``forward``, the forward-only model, is set against it by
    ``/v1/compare`` when ``compare`` is on.
    """

    settings: Settings
    metrics: Metrics
    compare: bool = False
    main: Served | None = None
    forward: Served | None = None
    #: Tag requests in progress per client address.
    clients: Counter[str] = field(default_factory=Counter)
    #: ``/v1/*`` requests being handled (what a graceful shutdown waits for).
    active: int = 0
    #: Set when shutdown begins: readiness answers 503 and new work is refused.
    draining: bool = False

    def begin_shutdown(self) -> None:
        """Shutdown begins: readiness answers 503, new work is refused, and a model process
        that dies from now on is not replaced (the ones up still answer what was accepted).
        Called from a signal handler: takes no lock."""
        self.draining = True
        for served in (self.main, self.forward):
            if served is not None and isinstance(served.tagger, ModelProcess):
                served.tagger.retire()

    @property
    def tagger(self) -> TaggerLike | ModelProcess | None:
        """The model that ``/v1/tag`` serves, once it is loaded."""
        return None if self.main is None else self.main.tagger

    @property
    def info(self) -> ModelInfo | None:
        """The description of the model that ``/v1/tag`` serves, once it is loaded."""
        return None if self.main is None else self.main.info

    @property
    def batcher(self) -> Batcher | None:
        """The batcher in front of the model that ``/v1/tag`` serves, once it is started."""
        return None if self.main is None else self.main.batcher

    @property
    def ready(self) -> bool:
        """True once every model is loaded and its batcher runs, until shutdown begins; False
        while a model process is being replaced."""
        served = [self.main, self.forward] if self.compare else [self.main]
        return not self.draining and all(s is not None and s.up for s in served)
