"""``GET /v1/models``: the model being served."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from service.deps import ModelInfoDep
from service.schemas import ErrorResponse, ModelOut, ModelsResponse

router = APIRouter(tags=["models"])


@router.get(
    "/v1/models",
    response_model=ModelsResponse,
    responses={503: {"model": ErrorResponse, "description": "No model loaded yet."}},
    summary="The served model",
)
async def models(info: ModelInfoDep) -> ModelsResponse:
    """Name, entity labels, direction, number of weights and device of the model."""
    return ModelsResponse(models=[ModelOut(**asdict(info))])
