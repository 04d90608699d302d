"""``POST /v1/tag``: entities of raw texts or pre-tokenized sentences."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from service import pipeline
from service.deps import TagCallDep
from service.schemas import TAG_REQUEST_EXAMPLES, ErrorResponse, TagRequest, TagResponse
from service.state import Service

router = APIRouter(tags=["tagging"])

#: Requests up to this many characters are tokenized on the event loop (under ~10 ms).
_INLINE_CHARS = 20_000

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not valid JSON."},
    413: {"model": ErrorResponse, "description": "Body, text count or a text over the limits."},
    415: {"model": ErrorResponse, "description": "The body is not declared as JSON."},
    422: {"model": ErrorResponse, "description": "JSON that is not a valid request."},
    429: {"model": ErrorResponse, "description": "This client has too many requests running."},
    503: {"model": ErrorResponse, "description": "Queue full or not ready; see Retry-After."},
}


async def decode(request: TagRequest, service: Service) -> list[pipeline.Document]:
    """The request's documents (:func:`service.pipeline.decode`), timed; a large request is
    tokenized in a worker thread."""
    started = time.perf_counter()
    if pipeline.characters(request) <= _INLINE_CHARS:
        documents = pipeline.decode(request, service.settings)
    else:  # tokenizing takes ~0.5 ms per 1000 characters: keep the event loop free meanwhile
        documents = await asyncio.to_thread(pipeline.decode, request, service.settings)
    service.metrics.preprocess_duration.observe(time.perf_counter() - started)
    return documents


@router.post(
    "/v1/tag",
    response_model=TagResponse,
    responses=ERRORS,
    summary="Tag named entities",
)
async def tag(
    request: Annotated[TagRequest, Body(openapi_examples=TAG_REQUEST_EXAMPLES)],
    call: TagCallDep,
) -> Response:
    """Tokens with their tags and the entity spans of each input, in input order.

    Raw text is split into sentences, which are tagged in batches shared with other requests
    and put back together. Offsets are characters into each text, or token indices for
    pre-tokenized input.
    """
    service = call.service
    with call.admission:
        metrics = service.metrics
        documents = await decode(request, service)

        predictions = await pipeline.predict(
            call.batcher, documents, service.settings.retry_after_s
        )

        started = time.perf_counter()
        results = pipeline.encode(documents, predictions)
        body = pipeline.to_json(call.info, results)
        metrics.postprocess_duration.observe(time.perf_counter() - started)
        metrics.observe_entities([e.label for result in results for e in result.entities])
        return Response(body, media_type="application/json")
