"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can tag)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.core.errors import not_ready
from service.http.deps import ServiceDep
from service.http.errors import error_response
from service.http.schemas.tag import ErrorResponse, Status
from service.settings import RETRY_AFTER_S

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status, summary="Liveness")
async def healthz() -> Status:
    """200 whenever the process answers HTTP."""
    return Status(status="ok")


@router.get(
    "/readyz",
    response_model=Status,
    responses={503: {"model": ErrorResponse, "description": "Starting up or shutting down."}},
    summary="Readiness",
)
async def readyz(service: ServiceDep) -> Status | JSONResponse:
    """200 once the model is loaded and the batcher runs; 503 before that and in shutdown."""
    if service.ready:
        return Status(status="ready")
    error = not_ready(RETRY_AFTER_S)
    return error_response(service.metrics, error, refused=False)
