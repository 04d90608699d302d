"""One app's run-time state (:class:`Service`, holding a :class:`ServedModel` per role) and the
use case of ``/v1/tag``:
decode (check the limits, cut into sentences) -> predict (through the batcher) -> encode.

The HTTP layer hands requests in and takes answers out; everything between is here, with the
figures of each request recorded as it goes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, TypeVar

from model import pipeline
from model.pipeline import Document, Tagged
from service.core.backend import Backend, ModelInfo
from service.core.batching import Batcher
from service.core.errors import BATCHER_ERRORS, ServiceError, from_batcher, not_ready
from service.core.pending import Prediction
from service.metrics import Metrics
from service.settings import FORWARD, TAG, Settings

#: Requests up to this many characters are tokenized on the event loop (BENCHMARKS.md, "Where
#: the defaults come from"); larger ones in a worker thread, keeping the event loop free.
_INLINE_CHARS = 20_000
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_T = TypeVar("_T")


class ServedModel(NamedTuple):
    """A model being served: its backend, the batcher in front of it, and the backends that
    the batcher hands its batches to, when not the backend itself (a pool's model processes)."""

    backend: Backend
    batcher: Batcher
    workers: Sequence[Backend] = ()

    @property
    def up(self) -> bool:
        """Whether its batcher runs and some worker can take a batch (a child process that
        died is down until its replacement has loaded the model)."""
        return self.batcher.running and any(w.alive for w in self.workers or (self.backend,))


@dataclass
class Service:
    """The state of one app: its settings, metrics and served models (by role, filled in at
    start-up), the requests in progress, and whether it is shutting down."""

    settings: Settings
    metrics: Metrics
    #: The roles it serves once started: :data:`TAG`, and :data:`FORWARD` when comparing.
    roles: tuple[str, ...] = (TAG,)
    models: dict[str, ServedModel] = field(default_factory=dict)
    #: Tag requests in progress per client address.
    clients: Counter[str] = field(default_factory=Counter)
    #: ``/v1/*`` requests being handled (what a graceful shutdown waits for).
    active: int = 0
    #: Set when shutdown begins: readiness answers 503 and new work is refused.
    draining: bool = False

    @property
    def comparing(self) -> bool:
        """Whether ``/v1/compare`` is served."""
        return FORWARD in self.roles

    @property
    def ready(self) -> bool:
        """True once every model is loaded and its batcher runs, until shutdown begins; False
        while a model's child process is being replaced."""
        models = self.models
        return not self.draining and all(r in models and models[r].up for r in self.roles)

    def under_light_load(self) -> bool:
        """At most one ``/v1/*`` request in progress: the one whose sentences are being tagged
        (read from the batcher's worker thread)."""
        return self.active <= 1

    def serving(self) -> dict[str, ServedModel]:
        """The served models, by role; raises ``not_ready`` unless every one is ready."""
        if not self.ready:
            raise not_ready(self.settings.retry_after_s)
        return self.models

    def begin_shutdown(self) -> None:
        """Shutdown begins: readiness answers 503, new work is refused, and a child process
        that dies from now on is not replaced (the ones up still answer what was accepted).
        Called from a signal handler: takes no lock."""
        self.draining = True
        for served in self.models.values():
            served.backend.retire()

    def admission(self, client: str) -> Admission:
        """The place of a request from ``client`` among those in flight."""
        return Admission(self, client)


class Admission:
    """Holds a tag request's place among those in flight (``with admission: ...``); entering
    raises ``too_many_requests`` when the client already has ``max_client_inflight``."""

    def __init__(self, service: Service, client: str) -> None:
        self.service = service
        self.client = client

    def __enter__(self) -> None:
        service, limit = self.service, self.service.settings.max_client_inflight
        if limit is not None and service.clients[self.client] >= limit:
            raise ServiceError(
                "too_many_requests",
                f"at most {limit} requests in flight per client",
                retry_after=service.settings.retry_after_s,
            )
        service.clients[self.client] += 1
        service.metrics.inflight.inc()

    def __exit__(self, *exc_info: object) -> None:
        self.service.metrics.inflight.dec()
        self.service.clients[self.client] -= 1
        if self.service.clients[self.client] <= 0:
            del self.service.clients[self.client]


class Inputs(Protocol):
    """What a request asks to tag: exactly one of the three is set."""

    @property
    def text(self) -> str | None: ...

    @property
    def texts(self) -> list[str] | None: ...

    @property
    def tokens(self) -> list[list[str]] | None: ...


async def decode(inputs: Inputs, service: Service) -> list[Document]:
    """The request's documents, checked against the limits; a large request is tokenized in a
    worker thread. Timed as ``ner_preprocess_duration_seconds``."""
    started = time.perf_counter()
    if _characters(inputs) <= _INLINE_CHARS:
        documents = _decode(inputs, service.settings)
    else:
        documents = await asyncio.to_thread(_decode, inputs, service.settings)
    service.metrics.preprocess_duration.observe(time.perf_counter() - started)
    return documents


def _characters(inputs: Inputs) -> int:
    if inputs.tokens is not None:
        return sum(len(token) for sentence in inputs.tokens for token in sentence)
    return sum(len(text) for text in ([inputs.text] if inputs.text else inputs.texts or []))


def _decode(inputs: Inputs, settings: Settings) -> list[Document]:
    if inputs.tokens is not None:
        _check_limits([" ".join(sentence) for sentence in inputs.tokens], "tokens", settings)
        return pipeline.documents_from_tokens(inputs.tokens)
    texts = [inputs.text] if inputs.text is not None else inputs.texts or []
    _check_limits(texts, "text" if inputs.text is not None else "texts", settings)
    return pipeline.documents_from_texts(texts)


def _check_limits(texts: Sequence[str], field: str, settings: Settings) -> None:
    if len(texts) > settings.max_texts:
        message = f"{len(texts)} items in '{field}', at most {settings.max_texts}"
        raise ServiceError("too_many_texts", message)
    for i, text in enumerate(texts):
        where = field if field == "text" else f"{field}[{i}]"
        # JSON can spell half a UTF-16 pair (\ud800); such text has no UTF-8 form to answer in.
        if surrogate := _LONE_SURROGATE.search(text):
            raise ServiceError(
                "invalid_request",
                f"'{where}' holds a lone surrogate (U+{ord(surrogate[0]):04X}): not valid Unicode",
            )
        if len(text) > settings.max_text_chars:
            raise ServiceError(
                "text_too_long",
                f"'{where}' has {len(text)} characters, at most {settings.max_text_chars}",
            )


async def predict(
    batcher: Batcher, documents: Sequence[Document], retry_after: int
) -> list[Prediction]:
    """Tags of every sentence of every document (in :func:`model.pipeline.sentences_of`
    order), through the shared batcher."""
    try:
        return await batcher.submit(pipeline.sentences_of(documents))
    except BATCHER_ERRORS as error:
        raise from_batcher(error, retry_after) from error


def assemble(documents: Sequence[Document], predictions: Sequence[Prediction]) -> list[Tagged]:
    """Each document's tagging, from the predictions of :func:`predict`."""
    tags, scores = [p.tags for p in predictions], [p.scores for p in predictions]
    return pipeline.tagged(documents, tags, scores)


async def tag(
    service: Service,
    inputs: Inputs,
    client: str,
    encode: Callable[[ModelInfo, list[Tagged]], _T],
) -> _T:
    """``/v1/tag``: the inputs' entities, encoded by ``encode`` (into the answer's body)."""
    served = service.serving()[TAG]
    with service.admission(client):
        documents = await decode(inputs, service)
        predictions = await predict(served.batcher, documents, service.settings.retry_after_s)
        started = time.perf_counter()
        results = assemble(documents, predictions)
        answer = encode(served.backend.info, results)
        service.metrics.postprocess_duration.observe(time.perf_counter() - started)
        service.metrics.observe_entities([e.label for r in results for e in r.entities])
        return answer
