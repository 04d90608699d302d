"""``POST /v1/compare``: what backward context changes, the forward-only model against the BiGRU."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Body

from service import comparison, deciding
from service.deps import CompareCallDep
from service.routes.tag import ERRORS, decode
from service.schemas import (
    COMPARE_REQUEST_EXAMPLES,
    CompareRequest,
    CompareResponse,
    ErrorResponse,
)

router = APIRouter(tags=["tagging"])

_ERRORS = ERRORS | {
    404: {
        "model": ErrorResponse,
        "description": "This server does not compare (compare_disabled).",
    },
    413: {
        "model": ErrorResponse,
        "description": "Body, text count or a text over the limits; with ``deciding_words``, "
        "also a sentence over ``NER_DECIDING_MAX_SENTENCE_TOKENS`` tokens (sentence_too_long) "
        "or prefixes over ``NER_DECIDING_MAX_TOKENS`` padded tokens (deciding_too_costly).",
    },
}


@router.post(
    "/v1/compare",
    response_model=CompareResponse,
    # Tokens carry ``deciding`` only when it was asked for: without it the answer is as before.
    response_model_exclude_none=True,
    responses=_ERRORS,
    summary="Compare the forward-only tagger with the BiGRU",
)
async def compare(
    request: Annotated[CompareRequest, Body(openapi_examples=COMPARE_REQUEST_EXAMPLES)],
    call: CompareCallDep,
) -> CompareResponse:
    """Each input tagged by both models: per token, the forward-only model's tag (it had read
    only the words before), the BiGRU's, and whether backward context changed it; plus each
    model's entities. Takes the same bodies, limits and errors as ``POST /v1/tag``.

    With ``"deciding_words": true`` each changed token also gets ``deciding``: the word from
    which the BiGRU keeps its label, found by tagging the sentence cut after each word from
    the token on (one more model call for the whole request), and the probability of the
    final label at each of those prefixes.
    """
    service = call.service
    settings = service.settings
    with call.admission:
        documents = await decode(request, service)
        if request.deciding_words:
            deciding.check_sentences(documents, settings)
        forward, bidirectional = await comparison.predict_both(
            call.forward.batcher, call.bidirectional.batcher, documents, settings.retry_after_s
        )
        found = None
        if request.deciding_words:
            found = await deciding.find(
                call.bidirectional, documents, forward, bidirectional, settings
            )
        started = time.perf_counter()
        answer = comparison.encode(
            documents, forward, bidirectional, (call.forward.info, call.bidirectional.info), found
        )
        service.metrics.postprocess_duration.observe(time.perf_counter() - started)
        service.metrics.observe_comparison(
            [(t.bidirectional.tag, t.changed) for r in answer.results for t in r.tokens]
        )
        if found is not None:
            service.metrics.observe_deciding([d.distance for f in found for d in f.values()])
        return answer
