"""The deciding word: its definition on hand-made prefix taggings, and the one batched call
that tags the prefixes with a real (tiny) BiGRU."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.artifact import load
from model.deciding import Question, label_probabilities, padded_tokens
from model.pipeline import Prediction
from model.tagger import Tagger

TAG = st.sampled_from(["O", "B-PER", "B-LOC", "I-LOC"])


def test_the_deciding_word_is_the_first_cut_from_which_the_label_stays() -> None:
    # Token 0 is LOC reading "Jordan", PER after "said", LOC again after "border", then stays.
    q = Question("Jordan said border near border .".split(), ["B-LOC"] + ["O"] * 5, [0.7] * 6, [0])
    assert q.cuts == range(0, 5)
    assert q.prefixes()[0] == ["Jordan"] and q.prefixes()[-1] == q.tokens[:5]
    assert q.labels()[2] == ["B-LOC", "O", "O"]
    firsts = ["B-LOC", "B-PER", "B-LOC", "B-PER", "B-LOC"]
    probabilities = [0.6, 0.1, 0.55, 0.2, 0.8]
    prefixes = [
        Prediction([tag] + ["O"] * k, [p] + [0.9] * k)
        for k, (tag, p) in enumerate(zip(firsts, probabilities, strict=True))
    ]
    (decided,) = q.answer(prefixes)
    # The label is LOC at cuts 0 and 2 already, but only kept from cut 4 ("border") on.
    assert (decided.token, decided.word, decided.distance) == (0, 4, 4)
    assert [s.through for s in decided.steps] == [0, 1, 2, 3, 4, 5]
    assert [s.tag for s in decided.steps] == ["B-LOC", "B-PER", "B-LOC", "B-PER", "B-LOC", "B-LOC"]
    # The last point is the whole sentence: the BiGRU's own probability of its label.
    assert [s.probability for s in decided.steps] == [0.6, 0.1, 0.55, 0.2, 0.8, 0.7]


def test_each_token_reads_only_the_cuts_from_itself_on() -> None:
    q = Question(
        "Paris Hilton met World Cup fans".split(),
        ["B-PER", "I-PER", "O", "B-MISC", "I-MISC", "O"],
        [0.9] * 6,
        [0, 3, 4],
    )
    assert q.cuts == range(0, 5)
    tags = [
        ["B-LOC"],
        ["B-PER", "I-PER"],
        ["B-PER", "I-PER", "O"],
        ["B-PER", "I-PER", "O", "B-ORG"],
        ["B-PER", "I-PER", "O", "B-MISC", "I-MISC"],
    ]
    paris, world, cup = q.answer([Prediction(t, [0.5] * len(t)) for t in tags])
    assert (paris.word, paris.distance) == (1, 1)  # "Hilton"
    assert (world.word, world.distance) == (4, 1)  # "Cup"
    assert (cup.word, cup.distance) == (4, 0)  # itself: no later word needed
    assert [s.through for s in world.steps] == [3, 4, 5]
    assert [s.through for s in cup.steps] == [4, 5]


def test_a_token_at_the_end_needs_no_prefix() -> None:
    q = Question(["in", "Paris"], ["O", "B-LOC"], [1.0, 0.8], [1])
    assert q.prefixes() == [] and padded_tokens([q]) == 0
    (decided,) = q.answer([])
    assert decided.word == 1 and [s.probability for s in decided.steps] == [0.8]


def test_the_cost_is_prefixes_times_the_longest() -> None:
    short = Question(list("abcd"), ["O"] * 4, [1.0] * 4, [2])  # one prefix of 3 tokens
    long = Question(list("abcdefg"), ["O"] * 7, [1.0] * 7, [1])  # 5 prefixes, up to 6 tokens
    none = Question(list("abc"), ["O"] * 3, [1.0] * 3, [])
    assert padded_tokens([short, long, none]) == 6 * 6
    assert padded_tokens([none]) == 0


def test_answers_must_cover_the_prefixes() -> None:
    q = Question(list("abc"), ["O"] * 3, [1.0] * 3, [0])
    with pytest.raises(ValueError, match="1 prefixes tagged, 2 asked"):
        q.answer([Prediction(["O"], [1.0])])


@given(st.data())
def test_never_a_word_before_the_token_and_the_label_holds_from_it(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 9))
    final = data.draw(st.lists(TAG, min_size=n, max_size=n))
    asked = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1)))
    q = Question([f"w{i}" for i in range(n)], final, [0.5] * n, asked)
    tags = [data.draw(st.lists(TAG, min_size=j + 1, max_size=j + 1)) for j in q.cuts]
    for decided in q.answer([Prediction(t, [0.5] * len(t)) for t in tags]):
        assert decided.token <= decided.word < n
        kept = [s for s in decided.steps if s.through >= decided.word]
        assert all(s.tag == final[decided.token] for s in kept)
        before = [s for s in decided.steps if s.through == decided.word - 1]
        assert all(s.tag != final[decided.token] for s in before)
        assert [s.through for s in decided.steps] == list(range(decided.token, n))


def test_prefix_probabilities_are_those_of_tagging_each_prefix(tiny_model: Path) -> None:
    tagger = Tagger.load(tiny_model, "cpu")
    sentences = [["Mary", "Rossi", "visited", "Oslo", "."], ["Acme", "Corp"], ["In"]]
    tagged = tagger.tag_sentences(sentences)
    tags = [p.tags for p in tagged]
    # Asked for its own labels, the probabilities are the tags' scores.
    same = tagger.probabilities_of(sentences, tags)
    assert [p.tags for p in same] == tags
    for mine, expected in zip(same, tagged, strict=True):
        assert mine.scores == pytest.approx(expected.scores, abs=1e-5)
    # Asked for another label, its probability: together the tags' add up to at most one.
    other = [["O" if t != "O" else "B-PER" for t in s] for s in tags]
    theirs = tagger.probabilities_of(sentences, other)
    for mine, them in zip(tagged, theirs, strict=True):
        assert all(0 <= b <= 1 - a + 1e-5 for a, b in zip(mine.scores, them.scores, strict=True))


def test_the_prefixes_go_to_the_network_in_one_call(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load(tiny_model)
    calls: list[int] = []
    forward = type(loaded.network).forward

    def counting(self: object, batch: object) -> object:
        calls.append(batch.words.size(0))  # type: ignore[attr-defined]
        return forward(self, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(type(loaded.network), "forward", counting)
    prefixes = [["Mary"] * k for k in range(1, 40)]
    labels = [["O"] * len(p) for p in prefixes]
    found = label_probabilities(loaded.network, loaded.vocab, prefixes, labels)
    assert calls == [39] and [len(p.tags) for p in found] == list(range(1, 40))
