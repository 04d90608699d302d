"""``POST /v1/tag``: entities of raw texts or pre-tokenized sentences.

The one handler of the path is plain ASGI (:class:`TagRoute`), in front of the framework's
router and request handling, which had cost the event loop more per request than everything
else the server does for it (BENCHMARKS.md, "Where the defaults come from"). The edge's
middleware (request ID, metrics, the guard, the body limit) still runs around it; what it
refuses, it answers in the error format like any route. :func:`described` is its operation in
the OpenAPI schema.
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core import service as core
from service.core.errors import ServiceError
from service.http.errors import BodyRefused, error_response
from service.http.schemas.tag import (
    TAG_REQUEST_EXAMPLES,
    TAGGING_ERRORS,
    TagRequest,
    TagResponse,
    encode_tags,
    json_route,
    parse_json,
    require_json,
)

PATH = "/v1/tag"


class TagRoute:
    """Answers every request to :data:`PATH`; hands any other on to ``app``."""

    def __init__(self, app: ASGIApp, service: core.Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        try:
            answer = await self._answer(scope, receive)
        except ServiceError as error:
            answer = error_response(self.service.metrics, error)
        except BodyRefused as refused:
            answer = error_response(self.service.metrics, refused.error)
        if answer is not None:
            await answer(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive) -> Response | None:
        """The answer; None when the client left before its body was complete."""
        if scope["method"] != "POST":
            raise ServiceError("method_not_allowed", "Method Not Allowed")
        types = [v for k, v in scope["headers"] if k == b"content-type"]
        require_json(types[0].decode("latin-1") if types else None)
        body = await _body(receive)
        if body is None:
            return None
        inputs = parse_json(body, TagRequest)
        served = self.service.serving(inputs.model)
        client = scope["client"][0] if scope.get("client") else "unknown"
        answer = await core.tag(self.service, served, inputs, client, encode_tags)
        return Response(answer, media_type="application/json")


async def _body(receive: Receive) -> bytes | None:
    """The whole body; None if the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def described() -> APIRoute:
    """:class:`TagRoute`'s operation, for the OpenAPI schema only (never routed to)."""

    async def tag() -> TagResponse:
        """Tokens with their tags and the entity spans of each input, in input order.

        Raw text is split into sentences, which are tagged in batches shared with other
        requests and put back together. Offsets are characters into each text, or token
        indices for pre-tokenized input.
        """
        raise NotImplementedError  # pragma: no cover: TagRoute answers the path

    return APIRoute(
        PATH,
        tag,
        methods=["POST"],
        response_model=TagResponse,
        tags=["tagging"],
        summary="Tag named entities",
        **json_route(TagRequest, TAG_REQUEST_EXAMPLES, TAGGING_ERRORS),
    )
