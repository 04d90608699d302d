"""The steps of a tag request: decode -> batch and predict -> unbatch -> encode.

Each step is a function with typed input and output; the route only chains them. The model
side is anything shaped like :class:`model.tagger.Tagger` (:class:`TaggerLike`), so that
tests can serve a stub.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import torch
from pydantic import TypeAdapter

from model.tagger import Tagged, assemble
from model.tokenize import Token, split_sentences
from service.batching import (
    Batcher,
    BatcherUnavailable,
    BatchFailed,
    ModelUnavailable,
    Prediction,
    QueueFull,
    TooManySentences,
)
from service.errors import ServiceError
from service.schemas import TagRequest
from service.settings import Settings

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class HasParameters(Protocol):
    """A network: something with weights."""

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...


class HasNetwork(Protocol):
    """A loaded model: something holding a network."""

    @property
    def network(self) -> HasParameters: ...


class TaggerLike(Protocol):
    """What the service needs from a tagger (:class:`model.tagger.Tagger` has it all)."""

    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> list[str]: ...

    @property
    def bidirectional(self) -> bool: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def model(self) -> HasNetwork: ...

    def tag_sentences(
        self, sentences: Sequence[Sequence[str]]
    ) -> tuple[list[list[str]], list[list[float]]]: ...

    def probabilities_of(
        self, sentences: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]
    ) -> tuple[list[list[str]], list[list[float]]]: ...


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What ``GET /v1/models`` and ``ner_model_info`` say about the served model."""

    name: str
    labels: list[str]
    bidirectional: bool
    parameters: int
    device: str


def device_name(device: torch.device) -> str:
    """``cpu``, or ``cuda:N`` with the index filled in."""
    if device.type == "cuda" and device.index is None:
        return f"cuda:{torch.cuda.current_device()}"
    return str(device)


def describe(tagger: TaggerLike) -> ModelInfo:
    """Name, labels, direction, size and device of ``tagger``."""
    parameters = sum(p.numel() for p in tagger.model.network.parameters())
    return ModelInfo(
        tagger.name,
        list(tagger.labels),
        tagger.bidirectional,
        parameters,
        device_name(tagger.device),
    )


@dataclass(frozen=True, slots=True)
class Document:
    """One input: its text (None when pre-tokenized) and its sentences of tokens."""

    text: str | None
    sentences: list[list[Token]]


def characters(request: TagRequest) -> int:
    """How many characters the request asks to tag."""
    if request.tokens is not None:
        return sum(len(token) for sentence in request.tokens for token in sentence)
    return sum(len(text) for text in ([request.text] if request.text else request.texts or []))


def decode(request: TagRequest, settings: Settings) -> list[Document]:
    """Check the request against the limits and cut it into sentences of tokens."""
    if request.tokens is not None:
        _check_limits([" ".join(sentence) for sentence in request.tokens], "tokens", settings)
        return [
            Document(
                None, [[Token(t, i, i + 1) for i, t in enumerate(sentence)]] if sentence else []
            )
            for sentence in request.tokens
        ]
    texts = [request.text] if request.text is not None else request.texts or []
    _check_limits(texts, "text" if request.text is not None else "texts", settings)
    return [Document(text, split_sentences(text)) for text in texts]


def _check_limits(texts: Sequence[str], field: str, settings: Settings) -> None:
    if len(texts) > settings.max_texts:
        raise ServiceError(
            413, "too_many_texts", f"{len(texts)} items in '{field}', at most {settings.max_texts}"
        )
    for i, text in enumerate(texts):
        where = field if field == "text" else f"{field}[{i}]"
        # JSON can spell half a UTF-16 pair (\ud800); such text has no UTF-8 form to answer in.
        if surrogate := _LONE_SURROGATE.search(text):
            raise ServiceError(
                422,
                "invalid_request",
                f"'{where}' holds a lone surrogate (U+{ord(surrogate[0]):04X}): not valid Unicode",
            )
        if len(text) > settings.max_text_chars:
            raise ServiceError(
                413,
                "text_too_long",
                f"'{where}' has {len(text)} characters, at most {settings.max_text_chars}",
            )


async def predict(
    batcher: Batcher, documents: Sequence[Document], retry_after: int
) -> list[list[Prediction]]:
    """Tags of every sentence of every document, through the shared batcher."""
    flat = [[token.text for token in sentence] for d in documents for sentence in d.sentences]
    with model_errors(retry_after):
        predictions = await batcher.submit(flat)
    out, k = [], 0
    for document in documents:
        out.append(predictions[k : k + len(document.sentences)])
        k += len(document.sentences)
    return out


@contextmanager
def model_errors(retry_after: int) -> Iterator[None]:
    """The batcher's refusals and the model's failures as the service's answers."""
    try:
        yield
    except QueueFull as error:
        raise ServiceError(503, "queue_full", str(error), retry_after=retry_after) from error
    except BatcherUnavailable as error:
        raise ServiceError(503, "not_ready", str(error), retry_after=retry_after) from error
    except TooManySentences as error:
        raise ServiceError(413, "too_many_sentences", str(error)) from error
    except BatchFailed as error:
        if isinstance(error.__cause__, ModelUnavailable):
            message = "the model is being restarted"
            raise ServiceError(503, "not_ready", message, retry_after=retry_after) from error
        # The cause is in the server's log; clients learn only that it was not their input.
        raise ServiceError(
            500, "inference_failed", "the model failed on a batch holding this request"
        ) from error


def encode(
    documents: Sequence[Document], predictions: Sequence[Sequence[Prediction]]
) -> list[Tagged]:
    """Put each document's sentences back together and find its entities."""
    out = []
    for document, sentences in zip(documents, predictions, strict=True):
        tokens = [token for sentence in document.sentences for token in sentence]
        tags = [tag for p in sentences for tag in p.tags]
        scores = [score for p in sentences for score in p.scores]
        out.append(assemble(tokens, tags, scores, document.text))
    return out


@dataclass(frozen=True, slots=True)
class _Body:
    model: str
    device: str
    results: list[Tagged]


_BODY = TypeAdapter(_Body)


def to_json(info: ModelInfo, results: list[Tagged]) -> bytes:
    """The response body (shaped as :class:`service.schemas.TagResponse`)."""
    return _BODY.dump_json(_Body(info.name, info.device, results))
