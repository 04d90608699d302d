"""One app's run-time state (:class:`Service`, holding its models by name) and the use case
of ``/v1/tag``: decode (check the limits, cut into sentences) -> predict (through the
batcher) -> assemble the documents -> encode.

The HTTP layer hands requests in and takes answers out, and asks the service about its state
(:meth:`Service.serving`, :meth:`Service.handling`); everything between is here, with the
figures of each request recorded as it goes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from model import pipeline
from model.pipeline import Document, Prediction, Tagged
from service.core.backend import ModelInfo
from service.core.batching import Batcher
from service.core.errors import BATCHER_ERRORS, QueueFull, ServiceError, from_batcher, not_ready
from service.core.workers import Workers
from service.metrics import Metrics
from service.settings import RETRY_AFTER_S, Settings

if TYPE_CHECKING:
    from service.core.models import Model

_T = TypeVar("_T")

#: Requests up to this many characters are tokenized on the event loop (BENCHMARKS.md, "Where
#: the defaults come from"); larger ones in a worker thread, keeping the event loop free.
_INLINE_CHARS = 20_000
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(eq=False, slots=True)
class ServedModel:
    """A model being served: its workers, the batcher in front of them, whether the server
    loaded them (and closes them when they stop serving), and the requests that hold it:
    each request enters it (``with served:``), and a replaced version stops once none
    holds it."""

    workers: Workers
    batcher: Batcher
    owned: bool = True
    holders: int = 0

    @property
    def up(self) -> bool:
        """Whether its batcher runs and some worker can take a batch (a model process that
        died is down until its replacement has loaded the model)."""
        return self.batcher.running and self.workers.alive

    def __enter__(self) -> None:
        self.holders += 1

    def __exit__(self, *exc_info: object) -> None:
        self.holders -= 1


@dataclass
class Service:
    """The state of one app: its settings, metrics and models (by name, filled in at
    start-up), the model of requests that name none, the requests in progress, and whether
    it is shutting down."""

    settings: Settings
    metrics: Metrics
    models: dict[str, Model] = field(default_factory=dict)
    #: The model of requests that name none.
    default: str | None = None
    #: Tag requests in progress per client address.
    clients: Counter[str] = field(default_factory=Counter)
    #: ``/v1/*`` requests being handled (what a graceful shutdown waits for).
    active: int = 0
    #: Set when shutdown begins: readiness answers 503 and new work is refused.
    draining: bool = False
    #: With a repository: brings a model in step with it now (``POST /v1/models/{name}/load``).
    load: Callable[[str], Awaitable[Model]] | None = None

    @property
    def served(self) -> dict[str, ServedModel]:
        """The models that are ready, by name."""
        return {n: m.served for n, m in self.models.items() if m.served is not None}

    @property
    def ready(self) -> bool:
        """True once the default model (and its twin) and every other model that loaded are
        up, until shutdown begins; False while a model's child process is being replaced."""
        default = self.models.get(self.default or "")
        if self.draining or default is None or default.served is None:
            return False
        return all(served.up for served in self.served.values())

    def deepest_queue(self) -> int:
        """The sentences waiting in the fullest queue of the models that serve."""
        return max((served.batcher.depth for served in self.served.values()), default=0)

    def under_light_load(self) -> bool:
        """At most one ``/v1/*`` request in progress: the one whose sentences are tagged."""
        return self.active <= 1

    def serving(self, name: str | None = None) -> ServedModel:
        """The model ``name`` (None: the default), if it serves; ``model_not_found`` naming
        the models there are, or ``not_ready``."""
        if not self.models:  # not started yet
            raise not_ready(RETRY_AFTER_S)
        model = self.models.get(name or self.default or "")
        if model is None:
            listed = ", ".join(sorted(self.models))
            raise ServiceError("model_not_found", f"no model {name!r} here; the models: {listed}")
        if self.draining or model.served is None or not model.served.up:
            reason = f": {model.reason}" if model.reason else ""
            raise not_ready(RETRY_AFTER_S, f"the model {model.name!r} is {model.state}{reason}")
        return model.served

    def refusal(self, posting: bool) -> ServiceError | None:
        """Why a new ``/v1/*`` request is refused before it is read, if it is: the server is
        shutting down, or (for one that posts sentences) every model's queue is full. Under
        overload, refusals must cost the server little, or they take the CPU that the
        accepted requests need."""
        if self.draining:
            return not_ready(RETRY_AFTER_S, "the server is shutting down")
        if not posting:
            return None
        batchers = (m.served.batcher for m in self.models.values() if m.served is not None)
        roomiest = min(batchers, key=lambda batcher: batcher.depth, default=None)
        try:
            if roomiest is not None:
                roomiest.check_room()
        except QueueFull as full:
            return from_batcher(full, RETRY_AFTER_S)
        return None

    def handling(self) -> Handling:
        """Counts a ``/v1/*`` request in progress (what light load and a graceful shutdown
        read) while it is handled: ``with service.handling(): ...``."""
        return Handling(self)

    def begin_shutdown(self) -> None:
        """Shutdown begins: readiness answers 503, new work is refused, and a child process
        that dies from now on is not replaced (the ones up still answer what was accepted).
        Called from a signal handler: takes no lock."""
        self.draining = True
        for served in self.served.values():
            served.workers.retire()

    def admission(self, client: str) -> Admission:
        """Holds a tag request's place among those in flight: ``with service.admission(c):``;
        ``too_many_requests`` when the client already has ``max_client_inflight``."""
        return Admission(self, client)


# Plain context managers, not generators: each is entered once a request.
class Handling:
    """See :meth:`Service.handling`."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def __enter__(self) -> None:
        self.service.active += 1

    def __exit__(self, *exc_info: object) -> None:
        self.service.active -= 1


class Admission:
    """See :meth:`Service.admission`."""

    def __init__(self, service: Service, client: str) -> None:
        self.service = service
        self.client = client

    def __enter__(self) -> None:
        service, client = self.service, self.client
        limit = service.settings.tuning.max_client_inflight
        if limit is not None and service.clients[client] >= limit:
            message = f"at most {limit} requests in flight per client"
            raise ServiceError("too_many_requests", message, retry_after=RETRY_AFTER_S)
        service.clients[client] += 1
        service.metrics.inflight.inc()

    def __exit__(self, *exc_info: object) -> None:
        service, client = self.service, self.client
        service.metrics.inflight.dec()
        service.clients[client] -= 1
        if service.clients[client] <= 0:
            del service.clients[client]


class Inputs(Protocol):
    """What a request asks to tag: exactly one of the three is set."""

    @property
    def text(self) -> str | None: ...

    @property
    def texts(self) -> list[str] | None: ...

    @property
    def tokens(self) -> list[list[str]] | None: ...


async def decode(inputs: Inputs, settings: Settings, metrics: Metrics) -> list[Document]:
    """The request's documents, checked against the limits; a large request is tokenized in a
    worker thread. Timed as ``ner_preprocess_duration_seconds``."""
    started = time.perf_counter()
    if _characters(inputs) <= _INLINE_CHARS:
        documents = _decode(inputs, settings)
    else:
        documents = await asyncio.to_thread(_decode, inputs, settings)
    metrics.preprocess_duration.observe(time.perf_counter() - started)
    return documents


def _characters(inputs: Inputs) -> int:
    if inputs.tokens is not None:
        return sum(len(token) for sentence in inputs.tokens for token in sentence)
    return sum(len(text) for text in ([inputs.text] if inputs.text else inputs.texts or []))


def _decode(inputs: Inputs, settings: Settings) -> list[Document]:
    if inputs.tokens is not None:
        _check_count(len(inputs.tokens), "tokens", settings)
        for i, sentence in enumerate(inputs.tokens):
            # A sentence's length is its tokens' characters and the spaces between them.
            length = sum(len(token) for token in sentence) + max(len(sentence) - 1, 0)
            for token in sentence:
                _check_unicode(token, f"tokens[{i}]")
            _check_length(length, f"tokens[{i}]", settings)
        return pipeline.documents_from_tokens(inputs.tokens)
    if inputs.text is not None:
        texts, field = [inputs.text], "text"
    else:
        texts, field = inputs.texts or [], "texts"
    _check_count(len(texts), field, settings)
    for i, text in enumerate(texts):
        where = field if field == "text" else f"{field}[{i}]"
        _check_unicode(text, where)
        _check_length(len(text), where, settings)
    return pipeline.documents_from_texts(texts)


def _check_count(count: int, field: str, settings: Settings) -> None:
    if count > settings.max_texts:
        message = f"{count} items in '{field}', at most {settings.max_texts}"
        raise ServiceError("too_many_texts", message)


def _check_unicode(text: str, where: str) -> None:
    # JSON can spell half a UTF-16 pair (\ud800); such text has no UTF-8 form to answer in.
    if surrogate := _LONE_SURROGATE.search(text):
        raise ServiceError(
            "invalid_request",
            f"'{where}' holds a lone surrogate (U+{ord(surrogate[0]):04X}): not valid Unicode",
        )


def _check_length(length: int, where: str, settings: Settings) -> None:
    if length > settings.max_text_chars:
        raise ServiceError(
            "text_too_long",
            f"'{where}' has {length} characters, at most {settings.max_text_chars}",
        )


async def predict(batcher: Batcher, documents: Sequence[Document]) -> list[Prediction]:
    """A prediction for every sentence of every document (in
    :func:`model.pipeline.sentences_of` order), through the shared batcher."""
    try:
        return await batcher.submit(pipeline.sentences_of(documents))
    except BATCHER_ERRORS as error:
        raise from_batcher(error, RETRY_AFTER_S) from error


async def tag(
    service: Service,
    served: ServedModel,
    inputs: Inputs,
    client: str,
    encode: Callable[[ModelInfo, list[Tagged]], _T],
) -> _T:
    """``/v1/tag``: the inputs' entities from ``served`` (a model of
    :meth:`Service.serving`), encoded by ``encode`` (into the answer's body)."""
    with service.admission(client), served:
        documents = await decode(inputs, service.settings, service.metrics)
        predictions = await predict(served.batcher, documents)
        started = time.perf_counter()
        results = pipeline.tagged(documents, predictions)
        answer = encode(served.workers.info, results)
        service.metrics.postprocess_duration.observe(time.perf_counter() - started)
        service.metrics.observe_entities([e.label for r in results for e in r.entities])
        return answer
