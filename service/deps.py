"""Dependencies of the routes, as ``Annotated`` aliases.

Every dependency is ``async def`` although none awaits anything: FastAPI runs a plain ``def``
dependency in its thread pool, a thread hand-off per dependency and request. ``POST /v1/tag``,
the hot path, takes a single one (:class:`TagCall`): solving the five it had took FastAPI
more CPU than tokenizing the request's sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from typing import Annotated

from fastapi import Depends, Request

from service.batching import Batcher
from service.errors import ServiceError
from service.metrics import Metrics
from service.pipeline import ModelInfo
from service.settings import Settings
from service.state import Served, Service


def service_of(request: Request) -> Service:
    """The app's :class:`Service`."""
    service = request.app.state.service
    assert isinstance(service, Service)
    return service


async def get_service(request: Request) -> Service:
    """The app's :class:`Service`."""
    return service_of(request)


ServiceDep = Annotated[Service, Depends(get_service)]


async def get_settings(service: ServiceDep) -> Settings:
    """The app's settings."""
    return service.settings


async def get_metrics(service: ServiceDep) -> Metrics:
    """The app's metrics."""
    return service.metrics


def _not_ready(service: Service) -> ServiceError:
    return ServiceError(
        503,
        "not_ready",
        "the model is not serving yet, or shutting down",
        retry_after=service.settings.retry_after_s,
    )


def running_batcher(service: Service) -> Batcher:
    """The running batcher; 503 before start-up and during shutdown."""
    if not service.ready or service.batcher is None:
        raise _not_ready(service)
    return service.batcher


def loaded_model_info(service: Service) -> ModelInfo:
    """The loaded model's description; 503 until it is loaded."""
    if service.info is None:
        raise _not_ready(service)
    return service.info


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def require_json(request: Request) -> None:
    """415 unless the body is declared as JSON (``application/json`` or ``+json``)."""
    declared = request.headers.get("content-type")
    if declared == "application/json":  # what nearly every client sends: skip the parsing
        return
    if declared:
        message = Message()
        message["content-type"] = declared
        subtype = message.get_content_subtype()
        if message.get_content_maintype() == "application" and (
            subtype == "json" or subtype.endswith("+json")
        ):
            return
    raise ServiceError(
        415,
        "unsupported_media_type",
        f"send JSON with 'Content-Type: application/json' (got {declared or 'no content type'})",
    )


class Admission:
    """Holds a tag request's place among those in flight (``with admission: ...``).

    Entering raises 429 when the client already has ``max_client_inflight`` requests
    running. Used in the route body rather than as a yield dependency, so that the place is
    given back before the answer leaves, whatever the FastAPI version's dependency timing.
    """

    def __init__(self, service: Service, client: str) -> None:
        self.service = service
        self.client = client

    def __enter__(self) -> None:
        service, limit = self.service, self.service.settings.max_client_inflight
        if limit is not None and service.clients[self.client] >= limit:
            raise ServiceError(
                429,
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


def admission_of(request: Request, service: Service) -> Admission:
    """The request's :class:`Admission`, keyed by the client's address."""
    return Admission(service, request.client.host if request.client else "unknown")


@dataclass(frozen=True, slots=True)
class TagCall:
    """What ``POST /v1/tag`` works with: the service, its running batcher and model, and the
    request's place among those in flight (entered by the route)."""

    service: Service
    batcher: Batcher
    info: ModelInfo
    admission: Admission


async def get_tag_call(request: Request) -> TagCall:
    """415 unless the body is declared as JSON, then 503 unless the model is serving."""
    require_json(request)
    service = service_of(request)
    batcher = running_batcher(service)
    return TagCall(service, batcher, loaded_model_info(service), admission_of(request, service))


TagCallDep = Annotated[TagCall, Depends(get_tag_call)]


@dataclass(frozen=True, slots=True)
class CompareCall:
    """What ``POST /v1/compare`` works with: the service, both served models, and the
    request's place among those in flight (entered by the route)."""

    service: Service
    forward: Served
    bidirectional: Served
    admission: Admission


async def get_compare_call(request: Request) -> CompareCall:
    """415 unless the body is declared as JSON, 404 when this server does not compare, then
    503 unless both models are serving."""
    require_json(request)
    service = service_of(request)
    if not service.compare:
        raise ServiceError(
            404,
            "compare_disabled",
            "this server does not compare models (NER_FORWARD_MODEL is off); use /v1/tag",
        )
    if not service.ready or service.main is None or service.forward is None:
        raise _not_ready(service)
    return CompareCall(service, service.forward, service.main, admission_of(request, service))


CompareCallDep = Annotated[CompareCall, Depends(get_compare_call)]
