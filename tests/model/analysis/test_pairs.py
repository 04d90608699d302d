"""Minimal pairs: a forward-only tagger cannot tell the shared opening apart; the BiGRU can."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.analysis.pairs import MinimalPair, load_pairs
from model.bundled import DEFAULT_MODEL, FORWARD_MODEL
from model.tagger import Tagger


def _openings(tagger: Tagger, pairs: list[MinimalPair]) -> list[tuple[list[str], list[str]]]:
    """The tagger's labels of each pair's shared opening, in its first and second sentence."""
    sentences = [s.tokens for pair in pairs for s in (pair.first, pair.second)]
    tags = [p.tags for p in tagger.tag_sentences(sentences)]
    return [
        (tags[2 * i][: pair.opening], tags[2 * i + 1][: pair.opening])
        for i, pair in enumerate(pairs)
    ]


def test_the_bundled_pairs_are_many_and_well_formed() -> None:
    pairs = load_pairs()
    assert len(pairs) >= 20
    assert len({" ".join(p.first.tokens) for p in pairs}) == len(pairs)
    for pair in pairs:
        n = pair.opening
        assert pair.first.tokens[:n] == pair.second.tokens[:n]
        assert pair.first.tags[:n] != pair.second.tags[:n]


@pytest.mark.parametrize("model", ["bundled", "tiny"])
def test_a_forward_only_tagger_labels_the_shared_opening_alike(
    model: str, tiny_forward_model: Path
) -> None:
    tagger = Tagger.load(FORWARD_MODEL if model == "bundled" else tiny_forward_model)
    assert not tagger.bidirectional
    pairs = load_pairs()
    for (first, second), pair in zip(_openings(tagger, pairs), pairs, strict=True):
        assert first == second, pair.first.tokens
        # Nothing after the opening is read: tagged alone, it gets the same labels.
        (alone,) = tagger.tag_sentences([pair.first.tokens[: pair.opening]])
        assert alone.tags == first


def test_the_bundled_bigru_tells_the_openings_apart_and_gets_more_right() -> None:
    pairs = load_pairs()
    both = _openings(Tagger.load(DEFAULT_MODEL), pairs)
    forward = _openings(Tagger.load(FORWARD_MODEL), pairs)
    told_apart = sum(first != second for first, second in both)
    assert told_apart >= len(pairs) // 2

    def correct(openings: list[tuple[list[str], list[str]]]) -> int:
        gold = [(p.first.tags[: p.opening], p.second.tags[: p.opening]) for p in pairs]
        return sum(
            a == g
            for pair, golds in zip(openings, gold, strict=True)
            for a, g in zip(pair, golds, strict=True)
        )

    # The forward tagger gets at most one sentence of each pair right; the BiGRU does better.
    assert correct(forward) <= len(pairs)
    assert correct(both) > correct(forward)


def test_a_pair_whose_openings_agree_is_refused(tmp_path: Path) -> None:
    same = {"text": "Paris hosted it .", "tags": "B-LOC O O O"}
    other = {"text": "Paris welcomed them .", "tags": "B-LOC O O O"}
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"sentences": [same, other]}) + "\n")
    with pytest.raises(ValueError, match="opening labelled differently"):
        load_pairs(path)
    path.write_text(json.dumps({"sentences": [same, {"text": "Paris", "tags": "B-LOC O"}]}))
    with pytest.raises(ValueError, match="1 tokens but 2 tags"):
        load_pairs(path)
