"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can tag)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import ServiceDep
from service.errors import error_body
from service.schemas import ErrorResponse, Status

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
    return JSONResponse(
        error_body("not_ready", "the model is not serving yet, or shutting down"),
        status_code=503,
        headers={"Retry-After": str(service.settings.retry_after_s)},
    )
