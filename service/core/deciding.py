"""The deciding words of a compare request (``"deciding_words": true``): for each token whose
label backward context changed, the word from which the BiGRU keeps it.

The prefixes of every sentence holding a changed token are tagged by the BiGRU in one model
call of their own (:meth:`service.core.batching.Batcher.call`), checked against the limits
first: see :mod:`model.deciding` for the definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from model.deciding import Deciding, Question, padded_tokens
from model.pipeline import Document, Prediction
from model.tokenize import Token
from service.core.errors import BATCHER_ERRORS, ServiceError, from_batcher
from service.core.workers import Workers
from service.settings import RETRY_AFTER_S, Settings


@dataclass(frozen=True, slots=True)
class PrefixStep:
    """The BiGRU's tag of a changed token having read up to the word ``through`` (an index
    into the input's tokens), and its probability of the token's final tag there."""

    through: int
    tag: str
    probability: float


@dataclass(frozen=True, slots=True)
class DecidingWord:
    """The word (``index`` into the input's tokens) from which the BiGRU keeps a changed
    token's final label, ``distance`` words after the token, with the steps that show it."""

    index: int
    text: str
    start: int
    end: int
    distance: int
    prefixes: list[PrefixStep]


#: Per document, the deciding word of each changed token, by the token's index in the result.
Found = list[dict[int, DecidingWord]]


def check_sentences(documents: Sequence[Document], settings: Settings) -> None:
    """``sentence_too_long`` when a sentence is longer than deciding words allow."""
    limit = settings.tuning.deciding_max_sentence_tokens
    for number, document in enumerate(documents):
        for sentence in document.sentences:
            if len(sentence) > limit:
                raise ServiceError(
                    "sentence_too_long",
                    f"input {number} has a sentence of {len(sentence)} tokens; with "
                    f"'deciding_words' a sentence may have at most {limit}",
                )


def questions(
    forward: Sequence[Prediction],
    bidirectional: Sequence[Prediction],
    documents: Sequence[Document],
) -> list[list[Question]]:
    """Per document and sentence, its changed tokens with the BiGRU's tagging of it (the
    predictions are those of every sentence, in order)."""
    out, k = [], 0
    for document in documents:
        asked = []
        for sentence in document.sentences:
            left, both = forward[k], bidirectional[k]
            pairs = zip(left.tags, both.tags, strict=True)
            changed = [i for i, (a, b) in enumerate(pairs) if a != b]
            asked.append(Question([t.text for t in sentence], both.tags, both.scores, changed))
            k += 1
        out.append(asked)
    return out


async def find(
    workers: Workers,
    documents: Sequence[Document],
    forward: Sequence[Prediction],
    bidirectional: Sequence[Prediction],
    settings: Settings,
) -> Found:
    """The deciding word of every changed token, from one model call of the BiGRU (``workers``)
    on all the prefixes; ``deciding_too_costly`` when they would cost more than allowed."""
    asked = questions(forward, bidirectional, documents)
    flat = [q for sentences in asked for q in sentences]
    cost = padded_tokens(flat)
    budget = settings.tuning.deciding_max_tokens
    if cost > budget:
        raise ServiceError(
            "deciding_too_costly",
            f"the deciding words of this request need {cost} padded prefix tokens, at most "
            f"{budget}: send fewer or shorter sentences",
        )
    prefixes = [p for q in flat for p in q.prefixes()]
    labels = [x for q in flat for x in q.labels()]
    answers: list[Prediction] = []
    if prefixes:
        try:
            answers = await workers.probabilities_of(prefixes, labels)
        except BATCHER_ERRORS as error:
            raise from_batcher(error, RETRY_AFTER_S) from error
    found: Found = []
    k = 0
    for document, sentences in zip(documents, asked, strict=True):
        words = [token for sentence in document.sentences for token in sentence]
        by_token: dict[int, DecidingWord] = {}
        offset = 0
        for question, sentence in zip(sentences, document.sentences, strict=True):
            n = len(question.cuts)
            for decided in question.answer(answers[k : k + n]):
                by_token[offset + decided.token] = _word(decided, offset, words)
            k += n
            offset += len(sentence)
        found.append(by_token)
    return found


def _word(decided: Deciding, offset: int, words: Sequence[Token]) -> DecidingWord:
    word = words[offset + decided.word]
    return DecidingWord(
        index=offset + decided.word,
        text=word.text,
        start=word.start,
        end=word.end,
        distance=decided.distance,
        prefixes=[
            PrefixStep(through=offset + s.through, tag=s.tag, probability=s.probability)
            for s in decided.steps
        ],
    )
