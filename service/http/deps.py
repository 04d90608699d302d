"""Dependencies of the routes, as ``Annotated`` aliases.

Every dependency is ``async def`` although none awaits anything: FastAPI runs a plain ``def``
dependency in its thread pool, a thread hand-off per dependency and request. The routes that
take a body read it themselves (``service.http.schemas.tag.parse_json``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

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
