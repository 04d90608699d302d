"""The service's refusals and failures, as codes: what the core raises instead of answers.

An error names itself with a stable ``code`` (``queue_full``, ``text_too_long``, ...), says
what happened in ``message``, and may say when to try again (``retry_after`` seconds). Which
HTTP status a code gets is the HTTP layer's business (``service.http.errors``). The batcher's
and the backends' own exceptions are here too; :func:`from_batcher` turns them into codes.
"""

from __future__ import annotations

#: What a request that came too early or too late is told.
NOT_READY = "the model is not serving yet, or shutting down"


class ServiceError(Exception):
    """A request the service does not serve: a stable code, a message and, when trying again
    later can help, the seconds to wait."""

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


def not_ready(retry_after: int, message: str = NOT_READY) -> ServiceError:
    """No model serving (starting, restarting or shutting down): try again later."""
    return ServiceError("not_ready", message, retry_after=retry_after)


class BatcherUnavailable(RuntimeError):
    """The batcher is not running: not started yet, or shutting down."""


class QueueFull(RuntimeError):
    """The queue has no room for the request's sentences right now."""


class TooManySentences(ValueError):
    """The request has more sentences than the queue can ever hold."""


class BatchFailed(RuntimeError):
    """The model failed on a batch; ``__cause__`` is its exception."""


class ModelUnavailable(RuntimeError):
    """Raised by a model that cannot take batches for now (its process is being replaced):
    a batch that fails with it is the service's state, not a fault of the batch."""


class BatchMismatch(RuntimeError):
    """The model returned a different number of results than it was given."""


#: What the batcher raises when it does not serve a request: see :func:`from_batcher`.
BATCHER_ERRORS = (QueueFull, BatcherUnavailable, TooManySentences, BatchFailed)


def from_batcher(error: Exception, retry_after: int) -> ServiceError:
    """One of :data:`BATCHER_ERRORS` (the batcher's refusals, the model's failures) as the
    service's error; raise it ``from error``."""
    if isinstance(error, QueueFull):
        return ServiceError("queue_full", str(error), retry_after=retry_after)
    if isinstance(error, BatcherUnavailable):
        return not_ready(retry_after, str(error))
    if isinstance(error, TooManySentences):
        return ServiceError("too_many_sentences", str(error))
    if isinstance(error.__cause__, ModelUnavailable):
        return not_ready(retry_after, "the model is being restarted")
    # The cause is in the server's log; clients learn only that it was not their input.
    return ServiceError("inference_failed", "the model failed on a batch holding this request")
