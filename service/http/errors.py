"""Errors as JSON ``{"error": {"code": ..., "message": ...}}``: the one table from the core's
error codes to HTTP statuses, and the app's error handlers.

Anything the client sent that cannot be served is a 4xx (or 503 when the server is busy);
a 500 only ever means a fault on the server's side. Every refusal, the guard's included, is
answered by :func:`error_response`, which counts it in ``ner_rejected_total``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from service.core.errors import ServiceError
from service.http.schemas.tag import validation_message
from service.metrics import Metrics

log = logging.getLogger(__name__)

#: The HTTP status of each error code of the service (anything else: 500).
STATUS: dict[str, int] = {
    "invalid_json": 400,
    "unauthorized": 401,
    "compare_disabled": 404,
    "model_not_found": 404,
    "method_not_allowed": 405,
    "no_repository": 409,
    "repository_unreadable": 409,
    "body_too_large": 413,
    "too_many_texts": 413,
    "text_too_long": 413,
    "too_many_sentences": 413,
    "sentence_too_long": 413,
    "deciding_too_costly": 413,
    "unsupported_media_type": 415,
    "invalid_request": 422,
    "model_refused": 422,
    "too_many_requests": 429,
    "inference_failed": 500,
    "internal_error": 500,
    "not_ready": 503,
    "queue_full": 503,
    "timeout": 504,
}
#: Headers that go with a code, besides ``Retry-After``.
_HEADERS: dict[str, dict[str, str]] = {
    "unauthorized": {"WWW-Authenticate": 'Bearer realm="bigru-ner"'},
    "method_not_allowed": {"Allow": "POST"},  # what the endpoints that take bodies allow
}


class BodyRefused(HTTPException):
    """A refusal raised while FastAPI reads the body, where any other exception than an
    :class:`HTTPException` would become a 400: carries the service's error through."""

    def __init__(self, error: ServiceError) -> None:
        super().__init__(status_code=STATUS[error.code], detail=error.message)
        self.error = error


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON body of every error answer."""
    return {"error": {"code": code, "message": message}}


def error_response(
    metrics: Metrics,
    error: ServiceError,
    headers: Mapping[str, str] | None = None,
    *,
    refused: bool = True,
) -> JSONResponse:
    """The answer to ``error``: its status from :data:`STATUS`, its body, ``Retry-After``
    when it has one; counted in ``ner_rejected_total`` unless it is the server's fault (500)
    or no request was ``refused`` (a readiness probe's answer)."""
    status = STATUS.get(error.code, 500)
    if refused and status != 500:
        metrics.rejected.labels(reason=error.code).inc()
    sent = {**_HEADERS.get(error.code, {}), **(headers or {})}
    if error.retry_after is not None:
        sent["Retry-After"] = str(error.retry_after)
    return JSONResponse(error_body(error.code, error.message), status_code=status, headers=sent)


def _code_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def install_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Answer every error in the JSON error format, and count the refused requests."""

    async def service_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ServiceError)
        return error_response(metrics, error)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        if isinstance(error, BodyRefused):
            return error_response(metrics, error.error)
        message = error.detail if isinstance(error.detail, str) else _code_for(error.status_code)
        # FastAPI's only 400 is a body it could not decode (bad UTF-8, say): not JSON either.
        code = "invalid_json" if error.status_code == 400 else _code_for(error.status_code)
        if error.status_code < 500 or error.status_code == 503:
            metrics.rejected.labels(reason=code).inc()
        body = error_body(code, message)
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    async def validation_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = error.errors()
        if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors):
            refusal = ServiceError("invalid_json", "the body is empty: send a JSON object")
        elif any(e.get("type") == "json_invalid" for e in errors):
            detail = errors[0].get("ctx", {}).get("error", "")
            message = f"the body is not valid JSON: {detail}".strip(": ")
            refusal = ServiceError("invalid_json", message)
        else:
            refusal = ServiceError("invalid_request", validation_message(errors))
        return error_response(metrics, refusal)

    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        # Answered from outside every middleware: the ID header is set here. The server logs
        # the traceback after this line.
        request_id = getattr(request.state, "request_id", "unknown")
        log.error("request %s failed: %s", request_id, type(error).__name__)
        message = f"the server failed to answer; see its log for request {request_id}"
        refusal = ServiceError("internal_error", message)
        return error_response(metrics, refusal, {"X-Request-ID": request_id})

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal_error)
