"""``GET /v1/models``: the models being served."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from service.core.errors import not_ready
from service.http.deps import ServiceDep
from service.http.schemas.tag import ErrorResponse, ModelOut, ModelsResponse
from service.settings import FORWARD, RETRY_AFTER_S, TAG

router = APIRouter(tags=["models"])


@router.get(
    "/v1/models",
    response_model=ModelsResponse,
    responses={503: {"model": ErrorResponse, "description": "No model loaded yet."}},
    summary="The served models",
)
async def models(service: ServiceDep) -> ModelsResponse:
    """Name, entity labels, direction, number of weights, device and endpoints of each model:
    the one of ``/v1/tag`` first, then the forward-only model of ``/v1/compare``."""
    if TAG not in service.models:
        raise not_ready(RETRY_AFTER_S)
    forward = service.models.get(FORWARD)
    endpoints = ["/v1/tag", "/v1/compare"] if forward is not None else ["/v1/tag"]
    listed = [ModelOut(**asdict(service.models[TAG].workers.info), endpoints=endpoints)]
    if forward is not None:
        listed.append(ModelOut(**asdict(forward.workers.info), endpoints=["/v1/compare"]))
    return ModelsResponse(models=listed)
