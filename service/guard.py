"""What every ``/v1/*`` request goes through, whatever its route: the API key, refusal while
shutting down or while the queue is full, the request deadline and the client's disconnect,
and the count of requests in progress that a graceful shutdown waits for.

It is ASGI middleware rather than a dependency so that it covers routes added later without
their knowing, and so that it can end a request whose client has gone: uvicorn does not cancel
a handler when its connection closes, and without this a request would still queue its
sentences and wait for the model on behalf of nobody.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_body
from service.state import Service

PREFIX = "/v1/"
_AUTHENTICATE = 'Bearer realm="bigru-ner"'


class GuardMiddleware:
    """Applies :class:`service.settings.Settings`' ``api_key`` and ``request_timeout_s`` to
    ``/v1/*``, refuses new work once :attr:`Service.draining`, and ends a request whose
    client disconnects (its queued sentences are withdrawn with it)."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service
        key = service.settings.api_key
        self._key = None if key is None else key.get_secret_value().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await self._refuse(scope, send, *refusal)
            return
        self.service.active += 1
        try:
            await self._guarded(scope, receive, send)
        finally:
            self.service.active -= 1

    def _refusal(self, scope: Scope) -> tuple[int, str, str, int | None] | None:
        """Why the request is refused before it is read, if it is: (status, code, message,
        Retry-After)."""
        retry_after = self.service.settings.retry_after_s
        if self._key is not None and not _authorized(scope, self._key):
            return 401, "unauthorized", "a valid API key is required", None
        if self.service.draining:
            return 503, "not_ready", "the server is shutting down", retry_after
        batcher = self.service.batcher
        if scope["method"] == "POST" and batcher is not None and batcher.depth >= batcher.max_queue:
            # Shed load before the body is read or parsed: under overload, refusals must cost
            # the server little, or they take the CPU that the accepted requests need.
            message = f"{batcher.depth} sentences already wait for the model"
            return 503, "queue_full", message, retry_after
        return None

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the route under the deadline, cut short if the client disconnects first."""
        timeout = self.service.settings.request_timeout_s
        call = _Call(receive, send)
        try:
            async with asyncio.timeout(timeout) as cm:
                call.deadline = cm
                await self.app(scope, call.receive, call.send)
        except TimeoutError:
            if not cm.expired():
                raise  # the route's own TimeoutError, not ours
            if call.disconnected:
                self.service.metrics.rejected.labels(reason="client_disconnected").inc()
            elif not call.started:
                message = f"no answer within NER_REQUEST_TIMEOUT_S={timeout:g} s"
                await self._refuse(scope, send, 504, "timeout", message)
        finally:
            call.close()

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        status: int,
        code: str,
        message: str,
        retry_after: int | None = None,
    ) -> None:
        headers = {"WWW-Authenticate": _AUTHENTICATE} if status == 401 else {}
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        self.service.metrics.rejected.labels(reason=code).inc()
        response = JSONResponse(error_body(code, message), status_code=status, headers=headers)
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


def _authorized(scope: Scope, key: bytes) -> bool:
    """Whether the request carries ``key``, compared in constant time."""
    given: list[bytes] = []
    for name, value in scope["headers"]:
        if name == b"x-api-key":
            given.append(value)
        elif name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                given.append(token.strip())
    # Every candidate is compared, so the time does not tell which header was close.
    return any([hmac.compare_digest(value, key) for value in given])


class _Call:
    """One guarded request's ASGI channels: notices when its body has arrived, then watches
    for the client's disconnect and expires the deadline at once when it comes."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.deadline: asyncio.Timeout | None = None
        self.started = self.finished = self.disconnected = False
        self._watcher: asyncio.Task[None] | None = None
        self._gone: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    async def receive(self) -> Message:
        if self._watcher is not None:  # the body is in: only the disconnect can come
            return await asyncio.shield(self._gone)
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._left()
        elif not message.get("more_body", False):
            self._watcher = asyncio.create_task(self._watch())
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.finished = True
        await self._send(message)

    async def _watch(self) -> None:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self._left()
        if not self._gone.done():
            self._gone.set_result(message)

    def _left(self) -> None:
        """The client closed the connection: unless the answer is complete, end the request."""
        if self.finished or self.deadline is None:
            return
        self.disconnected = True
        self.deadline.reschedule(asyncio.get_running_loop().time())

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()


def document_guards(app: FastAPI, service: Service) -> None:
    """Show the answers that :class:`GuardMiddleware` can give in the OpenAPI schema of every
    ``/v1/*`` operation, and the API key as its security scheme when one is set."""
    settings = service.settings
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        extra = {"503": "Not ready, or shutting down; see Retry-After."}
        if settings.api_key is not None:
            extra["401"] = "No valid API key."
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            }
        if settings.request_timeout_s is not None:
            extra["504"] = "No answer within NER_REQUEST_TIMEOUT_S."
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith(PREFIX):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in extra.items():
                    responses.setdefault(status, {"description": description, "content": error})
                if settings.api_key is not None:
                    operation["security"] = [{"bearer": []}, {"apiKey": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
