"""``GET /v1/models``: every model of the server and its state; ``POST
/v1/models/{name}/load``: a model brought in step with the repository now."""

from __future__ import annotations

from fastapi import APIRouter

from service.core.errors import ServiceError, not_ready
from service.core.models import Model
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


@router.post(
    "/v1/models/{name}/load",
    response_model=ModelOut,
    responses={
        404: {"model": ErrorResponse, "description": "No such model (model_not_found)."},
        409: {"model": ErrorResponse, "description": "No repository, or it cannot be read."},
        422: {"model": ErrorResponse, "description": "A version was refused (model_refused)."},
    },
    summary="Load a model's newest version",
)
async def load(name: str, service: ServiceDep) -> ModelOut:
    """Bring the model in step with the repository now, without waiting for its next look
    (``NER_MODEL_POLL_S``): its highest version that loads and passes the checks serves (a
    version refused before is tried again), a removed version rolls back to the one below, a
    model new to the repository is added, one removed from it stops. Answers the model as
    ``GET /v1/models`` lists it; 422 ``model_refused`` with the reasons when a version was
    refused (the version before it serves on)."""
    if service.load is None:
        raise ServiceError("no_repository", "the server serves no model repository")
    return _listed(await service.load(name), service.default)


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
