"""Pydantic models of the HTTP API: what requests look like and what answers look like, and
the one way a route reads its JSON body (:func:`require_json`, then :func:`parse_json`).

A body is declared as JSON or refused with 415; parsed with ``json.loads``, one that is not
JSON, or is nested too deep for the decoder, is refused as 400 ``invalid_json``; validated
against its model, 422 ``invalid_request``. The routes read their bodies themselves, without
FastAPI's body parameter.

The answer of ``/v1/tag`` is encoded straight from the core's results through
:class:`TagResponse` (:func:`encode_tags`): the fields of its models are what the answer
holds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from email.message import Message
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.dataclasses import dataclass

from model.pipeline import Tagged
from service.core.backend import ModelInfo
from service.core.errors import ServiceError
from service.core.repository import NAME

_EXAMPLE_TEXT = "Jordan signed a trade agreement with Egypt ."

#: Request examples shown in the OpenAPI schema, one per input form.
TAG_REQUEST_EXAMPLES: dict[str, Any] = {
    "text": {
        "summary": "One raw text",
        "value": {"text": _EXAMPLE_TEXT},
    },
    "texts": {
        "summary": "Several raw texts, answered in order",
        "value": {"texts": [_EXAMPLE_TEXT, "Mary Rossi visited Oslo on Monday ."]},
    },
    "tokens": {
        "summary": "Pre-tokenized sentences (offsets are token indices)",
        "value": {
            "tokens": [["Jordan", "signed", "a", "trade", "agreement", "with", "Egypt", "."]]
        },
    },
}

#: Answer examples shown in the OpenAPI schema, by answer.
EXAMPLES: dict[str, Any] = json.loads((Path(__file__).parent / "examples.json").read_text())

NonEmptyToken = Annotated[str, StringConstraints(min_length=1)]


class ErrorDetail(BaseModel):
    """What went wrong: a stable code for programs and a message for people."""

    code: str = Field(examples=["queue_full"])
    message: str


class ErrorResponse(BaseModel):
    """Body of every error answer."""

    error: ErrorDetail


#: The error answers of the tagging endpoints, for the OpenAPI schema.
TAGGING_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The body is not valid JSON."},
    404: {"model": ErrorResponse, "description": "No model of that name (model_not_found)."},
    413: {"model": ErrorResponse, "description": "Body, text count or a text over the limits."},
    415: {"model": ErrorResponse, "description": "The body is not declared as JSON."},
    422: {"model": ErrorResponse, "description": "JSON that is not a valid request."},
    429: {"model": ErrorResponse, "description": "This client has too many requests running."},
    503: {"model": ErrorResponse, "description": "Queue full or not ready; see Retry-After."},
}


class TagRequest(BaseModel):
    """Exactly one of ``text``, ``texts`` or ``tokens``."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(None, description="One raw text; split into sentences here.")
    texts: list[str] | None = Field(
        None, description="Several raw texts; one result each, in the same order."
    )
    tokens: list[list[NonEmptyToken]] | None = Field(
        None, description="Pre-tokenized sentences; one result each, offsets are token indices."
    )
    model: str | None = Field(
        None,
        pattern=f"^{NAME.pattern}$",
        description="The model to tag with, by name (GET /v1/models); unset: the server's "
        "default model. An unknown name: 404 model_not_found.",
        examples=["bigru-conll03"],
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> TagRequest:
        given = [name for name in ("text", "texts", "tokens") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'text', 'texts' or 'tokens'"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


@dataclass
class TokenOut:
    """A token, its offsets and its IOB2 tag with the tag's probability."""

    text: str
    start: Annotated[
        int, Field(description="Character offset into the text (token index if pre-tokenized).")
    ]
    end: Annotated[int, Field(description="Offset one past the token's end.")]
    tag: str
    score: Annotated[float, Field(ge=0, le=1, description="Probability of the tag (CRF marginal).")]


@dataclass
class EntityOut:
    """An entity span; ``score`` is the mean probability of its tokens' tags."""

    text: str
    label: str
    start: int
    end: int
    score: Annotated[float, Field(ge=0, le=1, description="Mean probability of its tokens' tags.")]


@dataclass
class TagResult:
    """The tagging of one input text or pre-tokenized sentence."""

    tokens: list[TokenOut]
    entities: list[EntityOut]


class TagResponse(BaseModel):
    """One result per input, in input order."""

    model_config = ConfigDict(json_schema_extra={"examples": EXAMPLES["TagResponse"]})

    model: str
    device: str
    results: list[TagResult]


_TAG_RESPONSE = TypeAdapter(TagResponse)


def encode_tags(info: ModelInfo, results: list[Tagged]) -> bytes:
    """The body of a ``/v1/tag`` answer: the core's taggings under the model's name and
    device, read field by field as :class:`TagResult` says (fast: nothing is validated again,
    and nothing else is sent)."""
    # model_construct takes the core's records as they are: TagResult's fields are theirs.
    answer = TagResponse.model_construct(
        model=info.name,
        device=info.device,
        results=results,  # type: ignore[arg-type]
    )
    return _TAG_RESPONSE.dump_json(answer)


class ModelOut(BaseModel):
    """A model of the server: its name, version and state, and what it is once loaded."""

    name: str
    version: int | None = Field(description="Its repository version; null without one.")
    state: Literal["loading", "ready", "failed"]
    reason: str | None = Field(None, description="Why it failed, when it did.")
    default: bool = Field(description="Whether requests that name no model get this one.")
    twin: str | None = Field(
        description="The forward-only model that /v1/compare sets against it, if any."
    )
    labels: list[str] | None = Field(
        None, description="Entity labels it can find, e.g. LOC, MISC, ORG, PER (once loaded)."
    )
    bidirectional: bool | None = None
    parameters: int | None = Field(None, description="Number of weights.")
    device: str | None = None


class ModelsResponse(BaseModel):
    """Every model of the server: the default first, then the others by name."""

    models: list[ModelOut]


class Status(BaseModel):
    """Answer of the health and readiness probes."""

    status: str = Field(examples=["ok"])


M = TypeVar("M", bound=BaseModel)


def require_json(declared: str | None) -> None:
    """``unsupported_media_type`` unless the body is ``declared`` (its Content-Type) as JSON
    (``application/json`` or ``+json``): what every request with a body must be, before its
    body is looked at."""
    if declared == "application/json":  # what nearly every client sends: skip the parsing
        return
    if declared:
        message = Message()
        message["content-type"] = declared
        subtype = message.get_content_subtype()
        if message.get_content_maintype() == "application" and (
            subtype == "json" or subtype.endswith("+json")
        ):
            return
    raise ServiceError(
        "unsupported_media_type",
        f"send JSON with 'Content-Type: application/json' (got {declared or 'no content type'})",
    )


def parse_json(body: bytes, model: type[M]) -> M:
    """A request's ``body`` as ``model`` (see the module for the refusals)."""
    if not body:
        raise ServiceError("invalid_json", "the body is empty: send a JSON object")
    try:
        data = json.loads(body)
    except RecursionError:
        raise ServiceError("invalid_json", "the body is nested too deep") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        message = error.msg if isinstance(error, json.JSONDecodeError) else "not UTF-8"
        raise ServiceError("invalid_json", f"the body is not valid JSON: {message}") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ServiceError("invalid_request", validation_message(error.errors())) from None


def validation_message(errors: Sequence[Any]) -> str:
    """The first five problems of a validation, each with where it is."""
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = len(errors) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def json_route(
    model: type[BaseModel], examples: dict[str, Any], errors: dict[int | str, dict[str, Any]]
) -> dict[str, Any]:
    """The OpenAPI side of a route that reads ``model`` with :func:`parse_json` (its schema is
    added to the components by the app): its body with ``examples``, and its ``errors``."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    content = {"application/json": {"schema": schema, "examples": examples}}
    body = {"requestBody": {"required": True, "content": content}}
    return {"responses": errors, "openapi_extra": body}
