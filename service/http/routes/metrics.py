"""``GET /metrics``: Prometheus text exposition of the app's registry."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.http.deps import MetricsDep
from service.metrics import CONTENT_TYPE

router = APIRouter(tags=["monitoring"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format."}},
    summary="Prometheus metrics",
)
async def metrics(registry: MetricsDep) -> Response:
    """Every ``ner_*`` series of this process."""
    return Response(registry.render(), media_type=CONTENT_TYPE)
