"""``POST /v1/compare``: what backward context changes, the forward-only model against the BiGRU."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Body

from service import comparison
from service.deps import CompareCallDep
from service.routes.tag import ERRORS, decode
from service.schemas import TAG_REQUEST_EXAMPLES, CompareResponse, ErrorResponse, TagRequest

router = APIRouter(tags=["tagging"])

_ERRORS = ERRORS | {
    404: {"model": ErrorResponse, "description": "This server does not compare (compare_disabled)."}
}


@router.post(
    "/v1/compare",
    response_model=CompareResponse,
    responses=_ERRORS,
    summary="Compare the forward-only tagger with the BiGRU",
)
async def compare(
    request: Annotated[TagRequest, Body(openapi_examples=TAG_REQUEST_EXAMPLES)],
    call: CompareCallDep,
) -> CompareResponse:
    """Each input tagged by both models: per token, the forward-only model's tag (it had read
    only the words before), the BiGRU's, and whether backward context changed it; plus each
    model's entities. Takes the same bodies, limits and errors as ``POST /v1/tag``.
    """
    service = call.service
    with call.admission:
        documents = await decode(request, service)
        forward, bidirectional = await comparison.predict_both(
            call.forward.batcher,
            call.bidirectional.batcher,
            documents,
            service.settings.retry_after_s,
        )
        started = time.perf_counter()
        answer = comparison.encode(
            documents, forward, bidirectional, (call.forward.info, call.bidirectional.info)
        )
        service.metrics.postprocess_duration.observe(time.perf_counter() - started)
        service.metrics.observe_comparison(
            sum(len(r.tokens) for r in answer.results), sum(r.changed for r in answer.results)
        )
        return answer
