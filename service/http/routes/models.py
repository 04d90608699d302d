"""``GET /v1/models``: every model of the server and its state."""

from __future__ import annotations

from fastapi import APIRouter

from service.core.errors import not_ready
from service.core.service import Model
from service.http.deps import ServiceDep
from service.http.schemas.tag import ErrorResponse, ModelOut, ModelsResponse
from service.settings import RETRY_AFTER_S

router = APIRouter(tags=["models"])


@router.get(
    "/v1/models",
    response_model=ModelsResponse,
    responses={503: {"model": ErrorResponse, "description": "Not started yet."}},
    summary="The models",
)
async def models(service: ServiceDep) -> ModelsResponse:
    """Name, version, state (``loading``, ``ready``, or ``failed`` with the reason), whether it
    is the default, its forward-only twin and, once loaded, its entity labels, direction,
    number of weights and device: the default model first, then the others by name."""
    if not service.models:
        raise not_ready(RETRY_AFTER_S)
    ordered = sorted(service.models.values(), key=lambda m: (m.name != service.default, m.name))
    return ModelsResponse(models=[_listed(model, service.default) for model in ordered])


def _listed(model: Model, default: str | None) -> ModelOut:
    listed = ModelOut(
        name=model.name,
        version=model.version,
        state=model.state,
        reason=model.reason,
        default=model.name == default,
        twin=model.twin,
    )
    if model.served is not None:
        info = model.served.workers.info
        listed.labels, listed.bidirectional = info.labels, info.bidirectional
        listed.parameters, listed.device = info.parameters, info.device
    return listed
