"""``POST /v1/tag`` answered without FastAPI's per-request machinery, when nothing is unusual.

Most of the event loop's time per request went to the framework around the route: routing,
solving the route's dependencies, reading the body as a parameter (BENCHMARKS.md, "Serving
speed v2"). :class:`TagFastPath` sits inside the edge's middleware (request ID, metrics, the
guard, the body limit all still apply) and answers the common case itself: a JSON body that
is a valid :class:`TagRequest`. It parses and validates the body as FastAPI does
(``json.loads``, then the model) and calls the same use case and encoder as the route, so the
answer is the route's, byte for byte, a service that is not ready refusing it as the route's
dependency does (``Service.serving``, the same 503).

Anything else goes to the app as it came, the body replayed: another path or method, another
content type, a body that is not JSON or not a valid request. Every refusal of those is the
route's own, and the route stays what the OpenAPI schema describes.
"""

from __future__ import annotations

import json

from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core import service as core
from service.core.errors import ServiceError
from service.http.errors import BodyRefused, error_response
from service.http.schemas.tag import TagRequest, encode_tags

PATH = "/v1/tag"


class TagFastPath:
    """Answers plain ``POST /v1/tag`` requests of ``service`` itself (see the module)."""

    def __init__(self, app: ASGIApp, service: core.Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _plain_tag_request(scope):
            await self.app(scope, receive, send)
            return
        try:
            body, ended = await _body(receive)
        except BodyRefused as refused:
            await error_response(self.service.metrics, refused.error)(scope, receive, send)
            return
        request = None if ended is not None else _valid(body)
        if request is None:
            await self.app(scope, _replay(body, ended, receive), send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        try:
            answer = await core.tag(self.service, request, client, encode_tags)
        except ServiceError as error:
            await error_response(self.service.metrics, error)(scope, receive, send)
            return
        await Response(answer, media_type="application/json")(scope, receive, send)


def _plain_tag_request(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
        return False
    types = [v for k, v in scope["headers"] if k == b"content-type"]
    return types == [b"application/json"]


async def _body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body, and the message that ended it early (a disconnect), if one did."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _valid(body: bytes) -> TagRequest | None:
    """The request, if the body is a valid one (as FastAPI reads it: JSON, then the model)."""
    try:
        return TagRequest.model_validate(json.loads(body))
    except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError included
        return None


def _replay(body: bytes, ended: Message | None, receive: Receive) -> Receive:
    """``receive`` as it was before the body was read: the body again, then what follows."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if ended is not None:  # the client left before the body was complete
        cut: Message = {"type": "http.request", "body": body, "more_body": True}
        pending = [cut, ended] if body else [ended]

    async def again() -> Message:
        return pending.pop(0) if pending else await receive()

    return again
