"""IOBES: the conversion from IOB2 and back, and a network trained on IOBES tags that still
answers in IOB2."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from model.artifact import load
from model.data import iob2_to_iobes, iobes_to_iob2, read_conll
from model.deciding import label_probabilities
from model.features import encode, given_out, tag_sentences
from model.pipeline import tags_to_spans
from model.training.config import TrainConfig
from model.training.train import train
from model.vocab import Vocab
from tests.conftest import tiny_config


def test_iobes_marks_single_tokens_and_ends() -> None:
    tags = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC", "B-ORG", "B-ORG", "I-MISC"]
    assert iob2_to_iobes(tags) == [
        "B-PER", "E-PER", "O", "B-LOC", "I-LOC", "E-LOC", "S-ORG", "S-ORG", "S-MISC",
    ]  # fmt: skip


def test_a_stray_inside_tag_opens_an_entity_as_conlleval_reads_it() -> None:
    assert iob2_to_iobes(["O", "I-ORG", "I-ORG", "I-LOC"]) == ["O", "B-ORG", "E-ORG", "S-LOC"]


def test_iobes_tags_read_back_as_iob2() -> None:
    back = [iobes_to_iob2(t) for t in ["S-PER", "B-LOC", "I-LOC", "E-LOC", "O", "B-X"]]
    assert back == ["B-PER", "B-LOC", "I-LOC", "I-LOC", "O", "B-X"]


_TAGS = st.lists(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]), max_size=12)


@given(_TAGS)
def test_the_round_trip_keeps_every_entity(tags: list[str]) -> None:
    iobes = iob2_to_iobes(tags)
    assert len(iobes) == len(tags)
    assert tags_to_spans([iobes_to_iob2(t) for t in iobes]) == tags_to_spans(tags)


def test_a_vocab_of_iobes_tags_gives_out_iob2() -> None:
    vocab = Vocab(["<pad>", "<unk>"], ["<pad>", "<unk>"], ["O", "B-PER", "E-PER", "I-PER", "S-PER"])
    assert vocab.iobes
    assert vocab.output_tags == ["O", "B-PER", "I-PER"]
    assert [vocab.output_tags[i] for i in vocab.output_of] == [
        "O",
        "B-PER",
        "I-PER",
        "I-PER",
        "B-PER",
    ]
    iob2 = Vocab(["<pad>", "<unk>"], ["<pad>", "<unk>"], ["O", "B-PER", "I-PER"])
    assert not iob2.iobes
    assert iob2.output_tags == iob2.tags


def test_tag_scheme_is_checked(corpus: dict[str, Path], tmp_path: Path) -> None:
    config = tiny_config(corpus, tmp_path / "m", tag_scheme="bioul")
    assert isinstance(config, TrainConfig)
    with pytest.raises(ValueError, match="tag_scheme"):
        config.checked_dev_cases()


@pytest.fixture(scope="module")
def iobes_model(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("iobes") / "model"
    train(tiny_config(corpus, out, tag_scheme="iobes"), log=lambda _: None)  # type: ignore[arg-type]
    return out


def test_an_iobes_network_learns_iobes_and_answers_in_iob2(
    iobes_model: Path, corpus: dict[str, Path]
) -> None:
    loaded = load(iobes_model)
    assert {t[:2] for t in loaded.vocab.tags} >= {"S-", "E-"}
    sentences = [s.tokens for s in read_conll(corpus["dev"])]
    predictions = tag_sentences(loaded.network, loaded.vocab, sentences)
    tags = [p.tags for p in predictions]
    assert {t for sentence in tags for t in sentence} <= set(loaded.vocab.output_tags)
    assert all(0.0 <= s <= 1.0 + 1e-6 for p in predictions for s in p.scores)
    # A token's score is the summed probability of the IOBES tags behind its IOB2 tag.
    with torch.inference_mode():
        batch = encode(sentences[:4], loaded.vocab, loaded.network.config.max_word_chars)
        distributions = loaded.network.distributions(batch)
        probs, every = distributions[1], given_out(loaded.vocab, *distributions)[1]
    assert torch.allclose(every.sum(-1)[batch.mask], torch.ones(int(batch.lengths.sum())))
    first = loaded.vocab.output_tags.index(tags[0][0])
    behind = [i for i, o in enumerate(loaded.vocab.output_of) if o == first]
    assert predictions[0].scores[0] == pytest.approx(float(probs[0, 0, behind].sum()), abs=1e-5)
    # The comparison's probabilities of given IOB2 labels agree with the tagger's scores.
    chosen = label_probabilities(loaded.network, loaded.vocab, sentences[:4], tags[:4])
    for mine, theirs in zip(chosen, predictions[:4], strict=True):
        assert mine.tags == theirs.tags
        assert mine.scores == pytest.approx(theirs.scores, abs=1e-5)
