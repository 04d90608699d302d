"""Invariants of decoding tags into entities, for any tag sequence a model could emit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from model.pipeline import Span, assemble, tags_to_spans
from model.tokenize import tokenize

LABELS = ["PER", "LOC", "ORG", "MISC"]
TAG = st.sampled_from(["O"] + [f"{p}-{label}" for p in "BI" for label in LABELS])
TAGS = st.lists(TAG)


def iob2(spans: list[Span], length: int) -> list[str]:
    tags = ["O"] * length
    for span in spans:
        tags[span.start : span.end] = [f"B-{span.label}"] + [f"I-{span.label}"] * (
            span.end - span.start - 1
        )
    return tags


@given(TAGS)
def test_spans_cover_exactly_the_entity_tags_in_order(tags: list[str]) -> None:
    spans = tags_to_spans(tags)
    end = 0
    for span in spans:
        assert end <= span.start < span.end <= len(tags)  # ordered, disjoint, non-empty
        assert all(tag[2:] == span.label for tag in tags[span.start : span.end])
        assert all(tag.startswith("I-") for tag in tags[span.start + 1 : span.end])
        end = span.end
    covered = {i for span in spans for i in range(span.start, span.end)}
    assert covered == {i for i, tag in enumerate(tags) if tag != "O"}
    # The spans written back as well-formed IOB2 decode to themselves.
    assert tags_to_spans(iob2(spans, len(tags))) == spans


@given(st.text(), st.data())
def test_entities_index_into_the_text_with_mean_scores(text: str, data: st.DataObject) -> None:
    tokens = tokenize(text)
    tags = data.draw(st.lists(TAG, min_size=len(tokens), max_size=len(tokens)))
    scores = data.draw(st.lists(st.floats(0, 1), min_size=len(tokens), max_size=len(tokens)))
    tagged = assemble(tokens, tags, scores, text)
    assert [(t.text, t.start, t.end) for t in tagged.tokens] == [
        (t.text, t.start, t.end) for t in tokens
    ]
    for entity, span in zip(tagged.entities, tags_to_spans(tags), strict=True):
        assert text[entity.start : entity.end] == entity.text
        assert (entity.start, entity.end) == (tokens[span.start].start, tokens[span.end - 1].end)
        assert entity.label == span.label
        part = scores[span.start : span.end]
        assert min(part) - 1e-9 <= entity.score <= max(part) + 1e-9
