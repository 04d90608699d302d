"""``POST /v1/tag``: entities of raw texts or pre-tokenized sentences."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response

from service.core import service as core
from service.http.schemas.tag import (
    TAG_REQUEST_EXAMPLES,
    TAGGING_ERRORS,
    TagRequest,
    TagResponse,
    encode_tags,
    require_json,
)

router = APIRouter(tags=["tagging"])


async def serving(request: Request) -> core.Service:
    """The service, once the body is known to be declared as JSON and the model serves
    (``unsupported_media_type``, then ``not_ready``, before the body is validated)."""
    require_json(request)
    service: core.Service = request.app.state.service
    service.serving()
    return service


@router.post(
    "/v1/tag",
    response_model=TagResponse,
    responses=TAGGING_ERRORS,
    summary="Tag named entities",
)
async def tag(
    request: Annotated[TagRequest, Body(openapi_examples=TAG_REQUEST_EXAMPLES)],
    service: Annotated[core.Service, Depends(serving)],
    http: Request,
) -> Response:
    """Tokens with their tags and the entity spans of each input, in input order.

    Raw text is split into sentences, which are tagged in batches shared with other requests
    and put back together. Offsets are characters into each text, or token indices for
    pre-tokenized input.
    """
    client = http.client.host if http.client else "unknown"
    body = await core.tag(service, request, client, encode_tags)
    return Response(body, media_type="application/json")
