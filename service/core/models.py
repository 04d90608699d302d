"""Serving the loaded models (:class:`Model`, by name): :func:`serving`
puts a batcher in front of each and records their figures (batches, compute time, restarts)
in the app's metrics; :func:`start` and :func:`stop` serve one and end it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from service.core.batching import Batcher
from service.core.loading import Load, check_direction, close, load_settings_models, workers_of
from service.core.service import ServedModel, Service
from service.core.workers import Workers
from service.metrics import Metrics
from service.runs import default_name
from service.settings import Settings

log = logging.getLogger(__name__)


#: The states of a model in ``GET /v1/models``.
LOADING, READY, FAILED = "loading", "ready", "failed"


@dataclass
class Model:
    """A model of the server, by name: its repository version, the name of its forward-only
    twin, its state (:data:`LOADING`, :data:`READY` or :data:`FAILED`, with the ``reason``)
    and, once ready, what serves it."""

    name: str
    version: int | None = None
    twin: str | None = None
    state: str = LOADING
    reason: str | None = None
    served: ServedModel | None = None


@asynccontextmanager
async def serving(
    service: Service, given: Mapping[str, Load], lent: Collection[str] = ()
) -> AsyncIterator[None]:
    """Every model of the service's settings served, and the default's name set: those in
    ``given`` as they are (one given for ``NER_MODEL`` or ``NER_FORWARD_MODEL`` stands in for
    it), the others loaded here. A model stops when it is replaced (:mod:`.reloading`) or at
    the end, and is then closed, unless its name is ``lent`` (its lender closes it)."""
    settings = service.settings
    skip = {*given, *(load.variable for load in given.values())}
    loaded = await asyncio.to_thread(load_settings_models, settings, skip)
    try:
        for load in given.values():  # the loaded ones were checked as they loaded
            if load.workers is not None:
                check_direction(load.forward_only, load.variable, load.workers)
        loads = {**given, **loaded}
        stand_in = [name for name, load in given.items() if load.variable == "NER_MODEL"]
        default = stand_in[0] if stand_in else default_name(settings, sorted(loads))
        for name, load in loads.items():
            service.metrics.observe_load(name, refused=True, count=load.refused)
            model = Model(name, load.version, load.twin, FAILED, load.reason)
            if load.workers is not None:
                service.metrics.observe_load(name, refused=False)
                served = await start(service, name, load.workers)
                served.owned = name not in lent
                model.served, model.state = served, READY
                loaded.pop(name, None)  # closed when it stops serving
            service.models[name] = model
        service.default = default
        _announce(service)
        yield
    finally:
        # On the way out: readiness turns 503 at once; accepted sentences finish.
        for model in service.models.values():
            if model.served is not None:
                await stop(model.served)
        close(*workers_of(loaded.values()))


async def start(service: Service, name: str, workers: Workers) -> ServedModel:
    """``workers`` serving as the model ``name``: its worker threads and its batcher started,
    the restarts of its processes counted (its copy in the server, if any, tags under the
    service's light load)."""
    workers.on_restart = service.metrics.restart_counter(name)
    workers.light_load = service.under_light_load
    workers.start()
    batcher = _batcher(service.settings, service.metrics, workers)
    await batcher.start()
    return ServedModel(workers, batcher)


async def stop(served: ServedModel) -> None:
    """Stop serving: the batcher finishes the sentences it accepted, then the worker threads
    end; the model's copies are closed if they were loaded by the server."""
    await served.batcher.stop()
    served.workers.stop()
    if served.owned:
        await asyncio.to_thread(close, served.workers)


def _batcher(settings: Settings, metrics: Metrics, workers: Workers) -> Batcher:
    tuning = settings.tuning
    return Batcher(
        workers,
        max_batch_size=tuning.max_batch_size,
        max_batch_tokens=tuning.max_batch_tokens,
        max_wait=tuning.max_wait_ms / 1000,
        max_queue=settings.max_queue,
        on_batch=metrics.observe_batch,
    )


def announce(metrics: Metrics, model: Model) -> None:
    """Record that ``model`` serves now: its ``ner_model_info`` series and, when it has a
    twin, its labels' compare series."""
    assert model.served is not None
    info = model.served.workers.info
    metrics.serving(model.name, model.version, info.device, info.bidirectional)
    log.info("serving %s (version %s) on %s", model.name, model.version or "-", info.device)
    if model.twin is not None:
        metrics.comparing(info.labels)


def _announce(service: Service) -> None:
    for model in service.models.values():
        if model.served is not None:
            announce(service.metrics, model)
        else:
            log.error("model %s failed: %s", model.name, model.reason)
    # The fullest queue is the one that refuses requests first: what the alerts watch.
    service.metrics.watch_queues(service.deepest_queue)
    if service.default is not None:
        log.info("the default model is %s", service.default)
