"""The HTTP edge, as ASGI middleware: request IDs, request metrics, the guard of ``/v1/*``
and the request body limit (outermost first).

The guard covers every ``/v1/*`` request, whatever its route: the API key, refusal while
shutting down or while the queue is full, the request deadline and the client's disconnect,
and the count of requests in progress that a graceful shutdown waits for. It is middleware
rather than a dependency so that it covers routes added later without their knowing, and so
that it can end a request whose client has gone: uvicorn does not cancel a handler when its
connection closes, and without this a request would still queue its sentences and wait for
the model on behalf of nobody.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
import uuid
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.errors import ServiceError
from service.core.service import Service
from service.http.errors import BodyRefused, error_response
from service.metrics import Metrics

#: The paths that the guard covers.
PREFIX = "/v1/"
#: The endpoints whose requests bring sentences to the queues.
_SENTENCES = ("/v1/tag", "/v1/compare")


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413, declared or streamed, before parsing.

    The error is raised from ``receive`` inside the route (as :class:`BodyRefused`: FastAPI
    turns any other exception raised while reading a body into a 400), so the app's error
    handlers turn it into the JSON error answer like any other.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        received = 0

        def too_large() -> BodyRefused:
            message = f"the request body is over {self.max_bytes} bytes"
            return BodyRefused(ServiceError("body_too_large", message))

        async def limited() -> Message:
            nonlocal received
            if declared is not None and declared > self.max_bytes:
                raise too_large()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise too_large()
            return message

        await self.app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestMetricsMiddleware:
    """Times every request to its last byte and counts it by endpoint and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics, endpoints: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        # Unknown paths share one label, so that scanners cannot blow up the series count.
        self.endpoints = frozenset(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = scope["path"] if scope["path"] in self.endpoints else "other"
        status = 500  # unless a response starts
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.metrics.observe_request(endpoint, status, time.perf_counter() - started)


#: A request ID a client may choose: what proxies and tracing tools send, nothing that could
#: forge a header or a log line.
_CLIENT_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class RequestIdMiddleware:
    """Gives every answer an ``X-Request-ID``: the client's own if it sent a sane one (up to
    128 letters, digits and ``._:-``), else a new random one. Routes read it from
    ``request.state.request_id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", ()) if k == b"x-request-id"), b"")
        request_id = given if _CLIENT_ID.fullmatch(given) else uuid.uuid4().hex.encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k != b"x-request-id"]
                message["headers"] = [*headers, (b"x-request-id", request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)


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
            await self._refuse(scope, send, refusal)
            return
        with self.service.handling():
            await self._guarded(scope, receive, send)

    def _refusal(self, scope: Scope) -> ServiceError | None:
        """Why the request is refused before its body is read, if it is."""
        if self._key is not None and not _authorized(scope, self._key):
            return ServiceError("unauthorized", "a valid API key is required")
        posting = scope["method"] == "POST" and scope["path"] in _SENTENCES
        return self.service.refusal(posting=posting)

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
                await self._refuse(scope, send, ServiceError("timeout", message))
        finally:
            call.close()

    async def _refuse(self, scope: Scope, send: Send, error: ServiceError) -> None:
        response = error_response(self.service.metrics, error)
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
