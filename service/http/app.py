"""The app factory: ``create_app(settings, tagger, forward)`` builds the FastAPI app.

Nothing heavy happens here or at import: the models (the one of ``/v1/tag`` and, when
comparing, the forward-only one of ``/v1/compare``) are loaded unless passed, and their
batchers started, in the app's lifespan (:func:`service.core.models.serving`); the batchers
are drained and stopped at its end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from service.core.backend import Backend, InProcessBackend, TaggerLike
from service.core.loading import Load
from service.core.models import serving
from service.core.reloading import reloading
from service.core.service import Service
from service.core.workers import Workers
from service.http.errors import install_error_handlers
from service.http.middleware import (
    PREFIX,
    BodyLimitMiddleware,
    GuardMiddleware,
    RequestIdMiddleware,
    RequestMetricsMiddleware,
)
from service.http.routes import compare, health, metrics, models, page, tag
from service.http.schemas.compare import CompareRequest
from service.http.schemas.tag import TagRequest
from service.metrics import Metrics
from service.settings import Settings, load_settings

Model = Workers | Backend | TaggerLike


def as_workers(model: Model) -> Workers:
    """Workers as they are; a backend alone; a tagger (:class:`model.tagger.Tagger`, or a
    test's stub) in this process."""
    if isinstance(model, Workers):
        return model
    return Workers([model if isinstance(model, Backend) else InProcessBackend(model)])


def create_app(
    settings: Settings | None = None,
    tagger: Model | None = None,
    forward: Model | None = None,
    *,
    loaded: Mapping[str, Load] | None = None,
) -> FastAPI:
    """The service's app. ``loaded``: the models that ``bigru-ner serve`` loaded already, by
    name, handed over (the app closes each when it stops serving it). ``tagger`` and
    ``forward`` (tests' taggers or backends) stand in for ``settings.model`` and
    ``settings.forward_model``, and are left to the caller to close. What the settings name
    besides is loaded here."""
    settings = settings or load_settings()
    given = dict(loaded or {})
    lent = []
    twin = settings.forward_model.name if settings.forward_model is not None else None
    for model, variable in ((forward, "NER_FORWARD_MODEL"), (tagger, "NER_MODEL")):
        if model is None:
            continue
        workers = as_workers(model)
        name = workers.info.name
        if name in given:
            raise ValueError(f"two models are named {name!r}")
        lent.append(name)
        if variable == "NER_FORWARD_MODEL":
            given[name], twin = Load(name, workers, variable, forward_only=True), name
        else:
            given[name] = Load(name, workers, variable, twin=twin)
    service = Service(settings, Metrics())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with serving(service, given, lent), reloading(service):
            stop_metrics = service.metrics.serve_apart(settings.host, settings.metrics_port_apart)
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
    routers = [module.router for module in (compare, models, health, page)]
    if settings.metrics_on_api_port:
        routers.append(metrics.router)
    for router in routers:
        app.include_router(router)
    page.mount_static(app)
    install_error_handlers(app, service.metrics)
    endpoints = [tag.PATH] + [
        route.path for router in routers for route in router.routes if isinstance(route, APIRoute)
    ]
    app.add_middleware(tag.TagRoute, service=service)  # innermost: the one handler of its path
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(GuardMiddleware, service=service)
    _describe(app, settings)
    app.add_middleware(RequestMetricsMiddleware, metrics=service.metrics, endpoints=endpoints)
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer carries its ID
    return app


def _describe(app: FastAPI, settings: Settings) -> None:
    """The app's OpenAPI schema: its routes' operations and ``/v1/tag``'s (answered in front
    of the router), the bodies that the routes read themselves, the answers that
    :class:`GuardMiddleware` can give in every ``/v1/*`` operation, and the API key as its
    security scheme when one is set."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=[tag.described(), *app.routes],
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (TagRequest, CompareRequest):
            found = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(found.pop("$defs", {}))
            components[model.__name__] = found
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        extra = {"503": "Not ready, or shutting down; see Retry-After."}
        if settings.api_key is not None:
            extra["401"] = "No valid API key."
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            }
        if settings.request_timeout_s is not None:
            extra["504"] = "No answer within NER_REQUEST_TIMEOUT_S."
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith(PREFIX):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in extra.items():
                    responses.setdefault(status, {"description": description, "content": error})
                if settings.api_key is not None:
                    operation["security"] = [{"bearer": []}, {"apiKey": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
