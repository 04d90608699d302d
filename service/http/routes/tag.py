"""``POST /v1/tag``: entities of raw texts or pre-tokenized sentences."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from service.core import service as core
from service.http.deps import TaggingDep, client_of
from service.http.schemas.tag import (
    TAG_REQUEST_EXAMPLES,
    TAGGING_ERRORS,
    TagRequest,
    TagResponse,
    encode_tags,
)

router = APIRouter(tags=["tagging"])


@router.post(
    "/v1/tag",
    response_model=TagResponse,
    responses=TAGGING_ERRORS,
    summary="Tag named entities",
)
async def tag(
    request: Annotated[TagRequest, Body(openapi_examples=TAG_REQUEST_EXAMPLES)],
    service: TaggingDep,
    http: Request,
) -> Response:
    """Tokens with their tags and the entity spans of each input, in input order.

    Raw text is split into sentences, which are tagged in batches shared with other requests
    and put back together. Offsets are characters into each text, or token indices for
    pre-tokenized input.
    """
    body = await core.tag(service, request, client_of(http), encode_tags)
    return Response(body, media_type="application/json")
