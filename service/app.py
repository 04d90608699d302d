"""The app factory: ``create_app(settings, tagger, forward)`` builds the FastAPI app.

Nothing heavy happens here or at import: the model of ``/v1/tag`` and the forward-only one of
``/v1/compare`` are loaded (unless passed, or comparing is off) and their batchers started in
the app's lifespan, one code path for both; the batchers are drained and stopped at its end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path

import torch
from fastapi import FastAPI
from fastapi.routing import APIRoute

from model.artifact import ArtifactError
from service.batching import Batcher
from service.errors import install_error_handlers
from service.guard import GuardMiddleware, document_guards
from service.metrics import Metrics
from service.middleware import BodyLimitMiddleware, RequestIdMiddleware, RequestMetricsMiddleware
from service.model_process import ModelProcess
from service.pipeline import ModelInfo, TaggerLike, describe
from service.routes import compare, health, metrics, models, page, tag
from service.settings import Settings, load_settings
from service.state import Served, Service

log = logging.getLogger(__name__)


def load_tagger(settings: Settings, path: Path | None = None) -> TaggerLike | ModelProcess:
    """Load ``path`` (default ``settings.model``) on ``settings.device``, in a child process
    unless ``settings.model_process`` is off; raises ``ArtifactError`` if the model is bad."""
    path = settings.model if path is None else path
    if settings.model_process:
        return ModelProcess.start(path, settings.device, settings.torch_threads)
    from model.device import resolve_device
    from model.tagger import Tagger

    return Tagger.load(path, resolve_device(settings.device))


def load_forward(settings: Settings) -> TaggerLike | ModelProcess:
    """The forward-only model of ``/v1/compare`` (``settings.forward_model``, which must be
    set); raises ``ArtifactError`` naming ``NER_FORWARD_MODEL`` if it is bad or reads both
    ways."""
    if settings.forward_model is None:
        raise ValueError("NER_FORWARD_MODEL is off: there is no forward model to load")
    try:
        tagger = load_tagger(settings, settings.forward_model)
    except ArtifactError as error:
        raise ArtifactError(f"NER_FORWARD_MODEL: {error}") from error
    try:
        check_forward(tagger)
    except ArtifactError:
        if isinstance(tagger, ModelProcess):
            tagger.close()
        raise
    return tagger


def load_models(
    settings: Settings,
) -> tuple[TaggerLike | ModelProcess, TaggerLike | ModelProcess | None]:
    """The model of ``/v1/tag`` and, unless comparing is off, the forward-only one, loaded side
    by side (each model process starts on its own). If either fails, the other is closed and
    the first failure (the main model's, when both fail) is raised."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ner-load") as pool:
        futures = [pool.submit(load_tagger, settings)]
        if settings.forward_model is not None:
            futures.append(pool.submit(load_forward, settings))
        wait(futures)
    errors = [error for f in futures if (error := f.exception()) is not None]
    loaded = [f.result() for f in futures if f.exception() is None]
    if errors:
        for model in loaded:
            if isinstance(model, ModelProcess):
                model.close()
        raise errors[0]
    return loaded[0], loaded[1] if len(loaded) > 1 else None


def check_forward(tagger: TaggerLike | ModelProcess) -> None:
    """Raise ``ArtifactError`` unless ``tagger`` reads left to right only: set against the
    BiGRU, a second bidirectional model would show nothing about backward context."""
    info, _ = served_model(tagger)
    if info.bidirectional:
        raise ArtifactError(f"NER_FORWARD_MODEL: {info.name} is bidirectional, not forward-only")


def synchronizer(device: torch.device) -> Callable[[], None]:
    """What to call before reading a clock so that the device's queued work is counted."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def served_model(tagger: TaggerLike | ModelProcess) -> tuple[ModelInfo, Callable[[], None]]:
    """What is served, and what to call before reading a clock around a batch."""
    if isinstance(tagger, ModelProcess):
        # Its answers come back once the tags are on the host: nothing to wait for here, and
        # this process must not touch CUDA.
        return tagger.info, lambda: None
    return describe(tagger), synchronizer(tagger.device)


@asynccontextmanager
async def running_model(
    settings: Settings,
    metrics: Metrics,
    given: TaggerLike | ModelProcess | None,
    load: Callable[[], TaggerLike | ModelProcess],
) -> AsyncIterator[Served]:
    """A model (``given``, or loaded here and closed at the end) with its batcher started."""
    tagger = given if given is not None else await asyncio.to_thread(load)
    try:
        info, synchronize = served_model(tagger)
        if isinstance(tagger, ModelProcess):
            tagger.on_restart = metrics.restart_counter(info.name)
        batcher = Batcher(
            tagger.tag_sentences,
            max_batch_size=settings.max_batch_size,
            max_batch_tokens=settings.max_batch_tokens,
            max_wait=settings.max_wait_s,
            max_queue=settings.max_queue,
            call_cost_tokens=settings.call_cost_on(tagger.device.type),
            synchronize=synchronize,
            on_batch=metrics.observe_batch,
        )
        await batcher.start()
        try:
            yield Served(tagger, info, batcher)
        finally:
            await batcher.stop()  # readiness turns 503 at once; accepted sentences finish first
    finally:
        if given is None and isinstance(tagger, ModelProcess):
            tagger.close()


def create_app(
    settings: Settings | None = None,
    tagger: TaggerLike | ModelProcess | None = None,
    forward: TaggerLike | ModelProcess | None = None,
) -> FastAPI:
    """The service's app; ``tagger`` replaces loading ``settings.model`` and ``forward`` loading
    ``settings.forward_model`` (tests pass them, ``bigru-ner serve`` its model processes); they
    are then left to the caller to close. ``/v1/compare`` is served when ``forward`` is given
    or ``settings.forward_model`` is set."""
    settings = settings or load_settings()
    comparing = forward is not None or settings.forward_model is not None
    service = Service(settings, Metrics(), comparing)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        meters = service.metrics
        async with AsyncExitStack() as models:
            main = await models.enter_async_context(
                running_model(settings, meters, tagger, partial(load_tagger, settings))
            )
            served = [main]
            if comparing:
                load = partial(load_forward, settings)
                service.forward = await models.enter_async_context(
                    running_model(settings, meters, forward, load)
                )
                check_forward(service.forward.tagger)
                served.append(service.forward)
                meters.comparing(main.info.labels)
            info = main.info

            # The fuller queue is the one that refuses requests first: what the alerts watch.
            def depth() -> int:
                return max(s.batcher.depth for s in served)

            meters.serving(info.name, info.device, info.bidirectional, depth)
            service.main = main
            log.info("serving %s on %s", info.name, info.device)
            if service.forward is not None:
                log.info("comparing it with %s", service.forward.info.name)
            stop_metrics = meters.serve_apart(settings.host, settings.metrics_port)
            try:
                yield
            finally:
                stop_metrics()

    app = FastAPI(
        title="bigru-ner",
        summary="Named-entity tagging with a BiGRU-CRF, batched across requests.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = service
    routers = [module.router for module in (tag, compare, models, health, page)]
    if settings.metrics_enabled and settings.metrics_port is None:
        routers.append(metrics.router)
    for router in routers:
        app.include_router(router)
    page.mount_static(app)
    install_error_handlers(app, service.metrics)
    endpoints = [
        route.path for router in routers for route in router.routes if isinstance(route, APIRoute)
    ]
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(GuardMiddleware, service=service)
    document_guards(app, service)
    app.add_middleware(RequestMetricsMiddleware, metrics=service.metrics, endpoints=endpoints)
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer carries its ID
    return app
