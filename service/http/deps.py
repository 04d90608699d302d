"""Dependencies of the routes, as ``Annotated`` aliases.

Every dependency is ``async def`` although none awaits anything: FastAPI runs a plain ``def``
dependency in its thread pool, a thread hand-off per dependency and request. The tagging
routes take a single one each, which refuses what the route would refuse anyway before the
body is validated (BENCHMARKS.md, "Where the defaults come from").
"""

from __future__ import annotations

from email.message import Message
from typing import Annotated

from fastapi import Depends, Request

from service.core.errors import ServiceError
from service.core.service import Service
from service.metrics import Metrics


def service_of(request: Request) -> Service:
    """The app's :class:`Service`."""
    service = request.app.state.service
    assert isinstance(service, Service)
    return service


async def get_service(request: Request) -> Service:
    """The app's :class:`Service`."""
    return service_of(request)


async def get_metrics(request: Request) -> Metrics:
    """The app's metrics."""
    return service_of(request).metrics


ServiceDep = Annotated[Service, Depends(get_service)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def client_of(request: Request) -> str:
    """The address the request came from (what the per-client limit counts)."""
    return request.client.host if request.client else "unknown"


def require_json(request: Request) -> None:
    """``unsupported_media_type`` unless the body is declared as JSON (``application/json``
    or ``+json``)."""
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
        "unsupported_media_type",
        f"send JSON with 'Content-Type: application/json' (got {declared or 'no content type'})",
    )


async def get_tagging(request: Request) -> Service:
    """For ``POST /v1/tag``: the service, once the body is known to be declared as JSON and
    the model serves (``unsupported_media_type``, then ``not_ready``)."""
    require_json(request)
    service = service_of(request)
    service.serving()
    return service


async def get_comparing(request: Request) -> Service:
    """For ``POST /v1/compare``: the service, once the body is known to be declared as JSON,
    this server compares (``compare_disabled``) and both models serve (``not_ready``)."""
    require_json(request)
    service = service_of(request)
    if not service.comparing:
        raise ServiceError(
            "compare_disabled",
            "this server does not compare models (NER_FORWARD_MODEL is off); use /v1/tag",
        )
    service.serving()
    return service


TaggingDep = Annotated[Service, Depends(get_tagging)]
ComparingDep = Annotated[Service, Depends(get_comparing)]
