"""The app factory: ``create_app(settings, tagger)`` builds the FastAPI app.

Nothing heavy happens here or at import: the model is loaded (unless one is passed) and the
batcher started in the app's lifespan, and the batcher drained and stopped at its end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI
from fastapi.routing import APIRoute

from service.batching import Batcher
from service.errors import install_error_handlers
from service.guard import GuardMiddleware, document_guards
from service.metrics import Metrics
from service.middleware import BodyLimitMiddleware, RequestMetricsMiddleware
from service.model_process import ModelProcess
from service.pipeline import ModelInfo, TaggerLike, describe
from service.routes import health, metrics, models, tag
from service.settings import Settings, load_settings
from service.state import Service

log = logging.getLogger(__name__)


def load_tagger(settings: Settings) -> TaggerLike | ModelProcess:
    """Load ``settings.model`` on ``settings.device``, in a child process unless
    ``settings.model_process`` is off; raises ``ArtifactError`` if the model is bad."""
    if settings.model_process:
        return ModelProcess.start(settings.model, settings.device, settings.torch_threads)
    from model.tagger import Tagger
    from model.train import resolve_device

    return Tagger.load(settings.model, resolve_device(settings.device))


def synchronizer(device: torch.device) -> Callable[[], None]:
    """What to call before reading a clock so that the device's queued work is counted."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def served_model(tagger: TaggerLike | ModelProcess) -> tuple[ModelInfo, Callable[[], None]]:
    """What is served, and what to call before reading a clock around a batch."""
    if isinstance(tagger, ModelProcess):
        assert tagger.info is not None
        # Its answers come back once the tags are on the host: nothing to wait for here, and
        # this process must not touch CUDA.
        return tagger.info, lambda: None
    return describe(tagger), synchronizer(tagger.device)


def create_app(
    settings: Settings | None = None, tagger: TaggerLike | ModelProcess | None = None
) -> FastAPI:
    """The service's app; ``tagger`` replaces loading ``settings.model`` (tests pass one,
    ``bigru-ner serve`` its model process) and is then left to the caller to close."""
    settings = settings or load_settings()
    service = Service(settings, Metrics(), tagger)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded_here = service.tagger is None
        if service.tagger is None:
            service.tagger = await asyncio.to_thread(load_tagger, settings)
        served = service.tagger
        info, synchronize = served_model(served)
        batcher = Batcher(
            served.tag_sentences,
            max_batch_size=settings.max_batch_size,
            max_batch_tokens=settings.max_batch_tokens,
            max_wait=settings.max_wait_s,
            max_queue=settings.max_queue,
            call_cost_tokens=settings.call_cost_on(served.device.type),
            synchronize=synchronize,
            on_batch=service.metrics.observe_batch,
        )
        service.metrics.serving(info.name, info.device, info.bidirectional, lambda: batcher.depth)
        await batcher.start()
        service.batcher, service.info = batcher, info
        log.info("serving %s on %s", info.name, info.device)
        stop_metrics = service.metrics.serve_apart(settings.host, settings.metrics_port)
        try:
            yield
        finally:
            await batcher.stop()  # readiness turns 503 at once; accepted sentences finish first
            stop_metrics()
            if loaded_here and isinstance(served, ModelProcess):
                served.close()

    app = FastAPI(
        title="bigru-ner",
        summary="Named-entity tagging with a BiGRU-CRF, batched across requests.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = service
    routers = [module.router for module in (tag, models, health)]
    if settings.metrics_enabled and settings.metrics_port is None:
        routers.append(metrics.router)
    for router in routers:
        app.include_router(router)
    install_error_handlers(app, service.metrics)
    endpoints = [
        route.path for router in routers for route in router.routes if isinstance(route, APIRoute)
    ]
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(GuardMiddleware, service=service)
    document_guards(app, service)
    app.add_middleware(RequestMetricsMiddleware, metrics=service.metrics, endpoints=endpoints)
    return app
