"""Errors as JSON ``{"error": {"code": ..., "message": ...}}`` with a fitting status.

Anything the client sent that cannot be served is a 4xx (or 503 when the server is busy);
a 500 only ever means a fault on the server's side.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from service.metrics import Metrics

log = logging.getLogger(__name__)


class ServiceError(HTTPException):
    """An error answer: HTTP status, a stable machine-readable code and a message."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        headers = None if retry_after is None else {"Retry-After": str(retry_after)}
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON body of every error answer."""
    return {"error": {"code": code, "message": message}}


def _validation_message(errors: Sequence[Any]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = len(errors) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _code_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Answer every error in the JSON error format, and count the refused requests."""

    def answer(
        status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> JSONResponse:
        if status < 500 or status == 503:
            metrics.rejected.labels(reason=code).inc()
        return JSONResponse(error_body(code, message), status_code=status, headers=headers)

    async def service_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ServiceError)
        return answer(error.status_code, error.code, error.message, error.headers)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        message = error.detail if isinstance(error.detail, str) else _code_for(error.status_code)
        # FastAPI's only 400 is a body it could not decode (bad UTF-8, say): not JSON either.
        code = "invalid_json" if error.status_code == 400 else _code_for(error.status_code)
        return answer(error.status_code, code, message, error.headers)

    async def validation_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = error.errors()
        if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
            return answer(400, "invalid_json", "the body is empty: send a JSON object")
        if any(e.get("type") == "json_invalid" for e in errors):
            detail = errors[0].get("ctx", {}).get("error", "")
            return answer(400, "invalid_json", f"the body is not valid JSON: {detail}".strip(": "))
        return answer(422, "invalid_request", _validation_message(errors))

    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        # Answered from outside every middleware: the ID header is set here. The server logs
        # the traceback after this line.
        request_id = getattr(request.state, "request_id", "unknown")
        log.error("request %s failed: %s", request_id, type(error).__name__)
        message = f"the server failed to answer; see its log for request {request_id}"
        return answer(500, "internal_error", message, {"X-Request-ID": request_id})

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal_error)
