"""Pydantic models of ``POST /v1/compare``: its request and its answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.http.schemas.tag import EXAMPLES, TAG_REQUEST_EXAMPLES, EntityOut, TagRequest

#: Request examples of ``POST /v1/compare``: those of ``/v1/tag``, and one asking why.
COMPARE_REQUEST_EXAMPLES: dict[str, Any] = {
    **TAG_REQUEST_EXAMPLES,
    "deciding_words": {
        "summary": "Which later word decided each changed label",
        "value": {"text": "Paris Hilton arrived in Cannes .", "deciding_words": True},
    },
}


class CompareRequest(TagRequest):
    """Exactly one of ``text``, ``texts`` or ``tokens``, and whether to find deciding words."""

    deciding_words: bool = Field(
        False,
        description="Also find, for each token whose label backward context changed, the "
        "word from which the BiGRU keeps that label (``deciding``). This tags the prefixes "
        "of the sentences holding such tokens in one more model call; sentences may then "
        "have at most ``NER_DECIDING_MAX_SENTENCE_TOKENS`` tokens (413 sentence_too_long) "
        "and the prefixes may cost at most ``NER_DECIDING_MAX_TOKENS`` padded tokens (413 "
        "deciding_too_costly). Off: the answer and its cost are those without the option.",
    )


class TagScore(BaseModel):
    """One model's tag of a token and the tag's probability."""

    tag: str
    score: float = Field(ge=0, le=1)


class PrefixStep(BaseModel):
    """What the BiGRU says of a changed token having read the words up to a later one."""

    through: int = Field(description="Index (into the result's tokens) of the last word read.")
    tag: str = Field(description="The BiGRU's tag of the token, reading up to there.")
    probability: float = Field(
        ge=0, le=1, description="The BiGRU's probability of the token's final tag there."
    )


class DecidingWord(BaseModel):
    """The word from which the BiGRU keeps a changed token's final label: it tags the
    sentence cut after each word from the token on, and this is the first cut after which
    the token's tag no longer moves (never a word before the token; the token itself when
    no later word was needed)."""

    index: int = Field(description="Index into the result's tokens, at least the token's own.")
    text: str
    start: int = Field(description="Offset of the word, as the tokens' offsets.")
    end: int
    distance: int = Field(ge=0, description="Words from the token to it; 0: the token itself.")
    prefixes: list[PrefixStep] = Field(
        description="One per prefix, from the one ending at the token to the whole sentence: "
        "how the final label's probability moved as words arrived."
    )


class ComparedToken(BaseModel):
    """A token as the forward-only and the bidirectional model label it."""

    text: str
    start: int = Field(description="Character offset into the text (token index if pre-tokenized).")
    end: int = Field(description="Offset one past the token's end.")
    forward: TagScore = Field(description="The forward-only model: it read the words before only.")
    bidirectional: TagScore = Field(description="The BiGRU: it read the whole sentence.")
    changed: bool = Field(description="True where backward context changed the label.")
    deciding: DecidingWord | None = Field(
        None,
        description="Only with ``deciding_words``, and only on changed tokens: the word that "
        "decided the BiGRU's label.",
    )


class ComparedEntities(BaseModel):
    """The entities each model finds in one input."""

    forward: list[EntityOut]
    bidirectional: list[EntityOut]


class CompareResult(BaseModel):
    """The two taggings of one input text or pre-tokenized sentence."""

    tokens: list[ComparedToken]
    entities: ComparedEntities
    changed: int = Field(description="How many tokens backward context changed.")


class CompareModels(BaseModel):
    """The names of the two models compared."""

    forward: str
    bidirectional: str


class CompareResponse(BaseModel):
    """One result per input, in input order."""

    model_config = ConfigDict(json_schema_extra={"examples": EXAMPLES["CompareResponse"]})

    models: CompareModels
    device: str
    results: list[CompareResult]
