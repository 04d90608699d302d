"""Cutting sentences sorted by length into model calls (:mod:`model.grouping`), and the one
place that does it for tagging: :func:`model.features.tag_sentences` sorts a batch, cuts it,
and answers in input order."""

from __future__ import annotations

from pathlib import Path

import pytest

from model import features
from model.grouping import calls, length_groups
from model.pipeline import Prediction
from model.tagger import Tagger


@pytest.mark.parametrize(
    ("lengths", "cost", "groups"),
    [
        ([], 10, []),
        ([5], 0, [(0, 1)]),
        ([3, 3, 3], 0, [(0, 3)]),  # no cut between equal lengths: it saves nothing
        ([1, 2, 3], 0, [(0, 1), (1, 2), (2, 3)]),  # free calls: no padding at all
        ([1, 2, 3], 100, [(0, 3)]),  # 3 padded tokens are not worth a call
        # One call: 6 x 40 padded tokens + 10. Two: 4 x 3 + 10, and 2 x 40 + 10.
        ([1, 1, 2, 3, 40, 40], 10, [(0, 4), (4, 6)]),
        ([1, 1, 2, 3, 40, 40], 200, [(0, 6)]),
    ],
)
def test_length_groups_cut_where_padding_costs_more_than_a_call(
    lengths: list[int], cost: int, groups: list[tuple[int, int]]
) -> None:
    assert [(g.start, g.stop) for g in length_groups(lengths, cost)] == groups


@pytest.mark.parametrize(
    ("lengths", "cost", "most", "cut"),
    [
        ([], None, 4, []),
        ([], 10, 4, []),
        ([1, 2, 3, 40, 40], None, 8, [(0, 5)]),  # no cost: one group, however padded
        ([1, 2, 3, 4, 5], None, 2, [(0, 2), (2, 4), (4, 5)]),  # at most `most` a call
        ([1, 1, 2, 3, 40, 40], 10, 8, [(0, 4), (4, 6)]),  # the length groups...
        ([1, 1, 2, 3, 40, 40], 10, 3, [(0, 3), (3, 4), (4, 6)]),  # ...each cut at `most`
    ],
)
def test_calls_are_length_groups_of_at_most_most_items(
    lengths: list[int], cost: int | None, most: int, cut: list[tuple[int, int]]
) -> None:
    assert [(c.start, c.stop) for c in calls(lengths, cost, most)] == cut


def _sentence(n: int, word: str) -> list[str]:
    return [f"{word}{i}" for i in range(n)]


def test_a_batch_is_sorted_and_cut_into_calls_of_similar_length_and_answered_in_order(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tagger = Tagger.load(tiny_model, "cpu", call_cost=10)
    (alone,) = tagger.tag_sentences([["Oslo"]])
    sent: list[list[int]] = []
    encode = features.encode

    def recorded(sentences: list[list[str]], *args: object) -> object:
        sent.append([len(s) for s in sentences])
        return encode(sentences, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(features, "encode", recorded)
    inputs = [_sentence(40, "long"), _sentence(1, "a"), [], _sentence(2, "b"), ["Oslo"]]
    inputs.append(_sentence(38, "c"))
    predictions = tagger.tag_sentences(inputs)
    assert sent == [[1, 1, 2], [38, 40]]  # sorted; the empty one needs no call
    assert [len(p.tags) for p in predictions] == [len(s) for s in inputs]
    assert predictions[2] == Prediction([], [])
    assert predictions[4].tags == alone.tags  # each its own answer, in input order
    assert predictions[4].scores == pytest.approx(alone.scores)
    tagger.call_cost = None  # never cut by length: one call
    sent.clear()
    assert [p.tags for p in tagger.tag_sentences(inputs)] == [p.tags for p in predictions]
    assert sent == [[1, 1, 2, 38, 40]]
