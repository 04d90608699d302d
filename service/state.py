"""What one app holds at run time: its settings, metrics, model and batcher."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from service.batching import Batcher
from service.metrics import Metrics
from service.model_process import ModelProcess
from service.pipeline import ModelInfo, TaggerLike
from service.settings import Settings


@dataclass
class Service:
    """The state of one app, kept in ``app.state.service``; the lifespan fills it in."""

    settings: Settings
    metrics: Metrics
    tagger: TaggerLike | ModelProcess | None = None
    info: ModelInfo | None = None
    batcher: Batcher | None = None
    #: Tag requests in progress per client address.
    clients: Counter[str] = field(default_factory=Counter)
    #: ``/v1/*`` requests being handled (what a graceful shutdown waits for).
    active: int = 0
    #: Set when shutdown begins: readiness answers 503 and new work is refused.
    draining: bool = False

    @property
    def ready(self) -> bool:
        """True once the model is loaded and the batcher runs, until shutdown begins."""
        return (
            not self.draining
            and self.info is not None
            and self.batcher is not None
            and self.batcher.running
        )
