"""``POST /v1/compare``: what backward context changes, the forward-only model against the BiGRU."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from model.pipeline import Tagged
from service.core import comparing
from service.core.comparing import Compared, Comparison
from service.core.service import Service
from service.http.schemas.compare import (
    COMPARE_REQUEST_EXAMPLES,
    ComparedEntities,
    ComparedToken,
    CompareModels,
    CompareRequest,
    CompareResponse,
    CompareResult,
    DecidingWord,
    TagScore,
)
from service.http.schemas.tag import (
    TAGGING_ERRORS,
    EntityOut,
    ErrorResponse,
    json_route,
    parse_json,
    require_json,
)

router = APIRouter(tags=["tagging"])

_ERRORS = TAGGING_ERRORS | {
    404: {
        "model": ErrorResponse,
        "description": "The model has no forward-only twin to compare it with "
        "(compare_disabled), or no such model (model_not_found).",
    },
    413: {
        "model": ErrorResponse,
        "description": "Body, text count or a text over the limits; with ``deciding_words``, "
        "also a sentence over ``NER_DECIDING_MAX_SENTENCE_TOKENS`` tokens (sentence_too_long) "
        "or prefixes over ``NER_DECIDING_MAX_TOKENS`` padded tokens (deciding_too_costly).",
    },
}


@router.post(
    "/v1/compare",
    response_model=CompareResponse,
    summary="Compare the forward-only tagger with the BiGRU",
    **json_route(CompareRequest, COMPARE_REQUEST_EXAMPLES, _ERRORS),
)
async def compare(request: Request) -> Response:
    """Each input tagged by both models: per token, the forward-only model's tag (it had read
    only the words before), the BiGRU's, and whether backward context changed it; plus each
    model's entities. Takes the same bodies, limits and errors as ``POST /v1/tag``.

    With ``"deciding_words": true`` each changed token also gets ``deciding``: the word from
    which the BiGRU keeps its label, found by tagging the sentence cut after each word from
    the token on (one more model call for the whole request), and the probability of the
    final label at each of those prefixes.
    """
    require_json(request.headers.get("content-type"))
    service: Service = request.app.state.service
    inputs = parse_json(await request.body(), CompareRequest)
    pair = comparing.pair(service, inputs.model)
    client = request.client.host if request.client else "unknown"
    deciding = inputs.deciding_words
    answer = await comparing.compare(service, pair, inputs, client, deciding, _encode)
    # Tokens carry ``deciding`` only when it was asked for: without it the answer is as before.
    return Response(answer.model_dump_json(exclude_none=True), media_type="application/json")


def _encode(comparison: Comparison) -> CompareResponse:
    return CompareResponse(
        models=CompareModels(
            forward=comparison.forward.name, bidirectional=comparison.bidirectional.name
        ),
        device=comparison.bidirectional.device,
        results=[_side_by_side(compared) for compared in comparison.results],
    )


def _entities(tagged: Tagged) -> list[EntityOut]:
    return [
        EntityOut(text=e.text, label=e.label, start=e.start, end=e.end, score=e.score)
        for e in tagged.entities
    ]


def _side_by_side(compared: Compared) -> CompareResult:
    """One input's two taggings, token by token, with the tokens whose label changed and,
    when found, their deciding words."""
    deciding = compared.deciding or {}
    pairs = zip(compared.forward.tokens, compared.bidirectional.tokens, strict=True)
    tokens = [
        ComparedToken(
            text=left.text,
            start=left.start,
            end=left.end,
            forward=TagScore(tag=left.tag, score=left.score),
            bidirectional=TagScore(tag=both.tag, score=both.score),
            changed=left.tag != both.tag,
            deciding=(
                DecidingWord.model_validate(deciding[i], from_attributes=True)
                if i in deciding
                else None
            ),
        )
        for i, (left, both) in enumerate(pairs)
    ]
    return CompareResult(
        tokens=tokens,
        entities=ComparedEntities(
            forward=_entities(compared.forward), bidirectional=_entities(compared.bidirectional)
        ),
        changed=sum(t.changed for t in tokens),
    )
