"""``POST /v1/tag``: entities of raw texts or pre-tokenized sentences."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.core import service as core
from service.http.schemas.tag import (
    TAG_REQUEST_EXAMPLES,
    TAGGING_ERRORS,
    TagRequest,
    TagResponse,
    encode_tags,
    json_route,
    read_json,
    require_json,
)

router = APIRouter(tags=["tagging"])


@router.post(
    "/v1/tag",
    response_model=TagResponse,
    summary="Tag named entities",
    **json_route(TagRequest, TAG_REQUEST_EXAMPLES, TAGGING_ERRORS),
)
async def tag(request: Request) -> Response:
    """Tokens with their tags and the entity spans of each input, in input order.

    Raw text is split into sentences, which are tagged in batches shared with other requests
    and put back together. Offsets are characters into each text, or token indices for
    pre-tokenized input.
    """
    require_json(request)
    service: core.Service = request.app.state.service
    service.serving()
    inputs = await read_json(request, TagRequest)
    client = request.client.host if request.client else "unknown"
    body = await core.tag(service, inputs, client, encode_tags)
    return Response(body, media_type="application/json")
