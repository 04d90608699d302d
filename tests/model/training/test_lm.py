"""The language-model objective (model.training.lm): what each direction predicts and sees, that
it learns, that it stays out of the artifact, and that without it training is what it was."""

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from model.artifact import load
from model.cli import add_commands
from model.features import encode
from model.network import LockedDropout, TaggerNetwork
from model.training.lm import LanguageModelHead
from model.training.train import train
from tests.conftest import tiny_config
from tests.model.test_network import VOCAB, network

SENTENCE = ["Paris", "Hilton", "arrived", "the", "games", "."]
#: Differs from SENTENCE at every position.
OTHER = ["hosted", "the", "games", "Paris", "arrived", "Hilton", "hosted"]


def quiet(_: str) -> None:
    pass


def head(model: TaggerNetwork) -> LanguageModelHead:
    """A head in which every word of the test vocabulary is a class of its own."""
    torch.manual_seed(1)
    classes = torch.arange(len(VOCAB.words))
    config = model.config
    return LanguageModelHead(classes, len(VOCAB.words), config.hidden, config.bidirectional)


def losses(
    model: TaggerNetwork, lm: LanguageModelHead, tokens: list[str]
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Each position's losses (T,) for one sentence, in a batch with a longer one."""
    batch = encode([tokens, OTHER + OTHER], VOCAB, 32)
    with torch.no_grad():
        following, preceding = lm.losses(model.states(batch), batch.words, batch.lengths)
    n = len(tokens)
    return following[0, :n], None if preceding is None else preceding[0, :n]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_next_word_is_predicted_from_no_later_word(bidirectional: bool) -> None:
    model = network(bidirectional)
    lm = head(model)
    before, _ = losses(model, lm, SENTENCE)
    for j in range(1, len(SENTENCE)):  # every word from j on is changed
        after, _ = losses(model, lm, SENTENCE[:j] + OTHER[j:])
        # Position t reads words up to t and predicts word t + 1: before j - 1, nothing moved.
        assert torch.allclose(after[: j - 1], before[: j - 1], atol=1e-6), j
        assert not torch.allclose(after[j - 1], before[j - 1], atol=1e-4), j


def test_the_previous_word_is_predicted_from_no_earlier_word() -> None:
    model = network(bidirectional=True)
    lm = head(model)
    _, before = losses(model, lm, SENTENCE)
    for j in range(1, len(SENTENCE)):  # every word before j is changed
        _, after = losses(model, lm, OTHER[:j] + SENTENCE[j:])
        assert before is not None and after is not None
        assert torch.allclose(after[j + 1 :], before[j + 1 :], atol=1e-6), j
        assert not torch.allclose(after[j], before[j], atol=1e-4), j


def test_the_forward_twin_has_no_backward_half() -> None:
    model = network(bidirectional=False)
    lm = head(model)
    assert lm.previous_word is None
    following, preceding = losses(model, lm, SENTENCE)
    assert preceding is None and bool((following > 0).all())


def test_sentence_ends_are_predicted_and_padding_is_not() -> None:
    model = network(bidirectional=True)
    lm = head(model)
    batch = encode([SENTENCE, ["Paris", "."]], VOCAB, 32)
    with torch.no_grad():
        following, preceding = lm.losses(model.states(batch), batch.words, batch.lengths)
        total = lm(model.states(batch), batch.words, batch.lengths)
    assert preceding is not None
    assert bool((following[1, 2:] == 0).all() and (preceding[1, 2:] == 0).all())
    assert bool((following[1, :2] > 0).all() and (preceding[1, :2] > 0).all())
    assert torch.allclose(total, (following.sum() + preceding.sum()) / 2)


@pytest.fixture(scope="module")
def lm_run(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BiGRU trained for three epochs with the language-model objective."""
    out = tmp_path_factory.mktemp("lm") / "model"
    train(tiny_config(corpus, out, epochs=3, patience=99, lm_weight=0.5), log=quiet)  # type: ignore[arg-type]
    return out


def history(out: Path) -> list[dict[str, Any]]:
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    return list(state["state"]["history"])


def test_the_language_model_loss_decreases(lm_run: Path) -> None:
    epochs = history(lm_run)
    assert epochs[-1]["lm_loss"] < 0.8 * epochs[0]["lm_loss"]
    assert epochs[-1]["loss"] < epochs[0]["loss"]  # the tag loss, apart


def test_nothing_of_it_reaches_the_artifact(lm_run: Path) -> None:
    loaded = load(lm_run)  # refuses weights the network does not have
    weights = load_file(str(lm_run / "weights.safetensors"))
    assert set(weights) == set(loaded.network.state_dict())
    config = json.loads((lm_run / "config.json").read_text())
    assert not any(key.startswith("lm") for key in config["model"])
    assert config["metadata"]["training"]["lm_weight"] == 0.5  # recorded, never read back
    checkpointed = load_file(str(lm_run / "checkpoint" / "state.safetensors"))
    assert any(key.startswith("objective.previous_word.") for key in checkpointed)


def test_resumed_training_keeps_the_language_model(
    corpus: dict[str, Path], tmp_path: Path, lm_run: Path
) -> None:
    train(tiny_config(corpus, tmp_path, epochs=1, patience=99, lm_weight=0.5), log=quiet)  # type: ignore[arg-type]
    messages: list[str] = []
    train(tiny_config(corpus, tmp_path, epochs=3, patience=99, lm_weight=0.5), log=messages.append)  # type: ignore[arg-type]
    assert any("resumed after epoch 1" in m for m in messages)
    straight = load_file(str(lm_run / "checkpoint" / "state.safetensors"))
    resumed = load_file(str(tmp_path / "checkpoint" / "state.safetensors"))
    assert set(straight) == set(resumed)
    for key in straight:
        if key.startswith(("model.", "objective.")):
            assert torch.allclose(straight[key], resumed[key]), key


def test_the_forward_twin_trains_its_forward_half_only(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    config = tiny_config(corpus, tmp_path, epochs=1, bidirectional=False, lm_weight=0.5)
    train(config, log=quiet)  # type: ignore[arg-type]
    checkpointed = load_file(str(tmp_path / "checkpoint" / "state.safetensors"))
    assert any(key.startswith("objective.next_word.") for key in checkpointed)
    assert not any(key.startswith("objective.previous_word.") for key in checkpointed)
    assert load(tmp_path).network.config.bidirectional is False


def test_turned_off_it_is_not_there(corpus: dict[str, Path], tmp_path: Path) -> None:
    plain = tiny_config(corpus, tmp_path / "plain", epochs=2)
    off = tiny_config(corpus, tmp_path / "off", epochs=2, lm_weight=0.0, lm_vocab=3)
    train(plain, log=quiet)  # type: ignore[arg-type]
    train(off, log=quiet)  # type: ignore[arg-type]
    a = load_file(str(tmp_path / "plain" / "checkpoint" / "state.safetensors"))
    b = load_file(str(tmp_path / "off" / "checkpoint" / "state.safetensors"))
    assert set(a) == set(b) and not any(key.startswith("objective.") for key in a)
    assert all(torch.equal(a[k], b[k]) for k in a)  # the same weights, bit for bit
    keys = {"epoch", "loss", "dev_f1", "seconds"}
    assert all(set(epoch) == keys for epoch in history(tmp_path / "off"))


@pytest.mark.parametrize("locked", [False, True])
def test_one_pass_for_both_objectives_is_the_tag_loss_of_today(locked: bool) -> None:
    model = network(bidirectional=True).train()  # dropout 0.5
    if locked:
        model.dropout = LockedDropout(0.5)
    batch = encode([SENTENCE, ["Paris", "."]], VOCAB, 32)
    batch.tags = torch.zeros_like(batch.words)
    grads = []
    for shared in (False, True):
        torch.manual_seed(3)
        model.zero_grad()
        loss = model.loss(batch, model.states(batch) if shared else None)
        loss.backward()  # type: ignore[no-untyped-call]
        grads.append((loss.detach(), [p.grad.clone() for p in model.gru.parameters()]))  # type: ignore[union-attr]
    (first, first_grads), (second, second_grads) = grads
    assert torch.equal(first, second)
    assert all(torch.equal(a, b) for a, b in zip(first_grads, second_grads, strict=True))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lm_weight": -0.1}, "lm_weight"),
        ({"lm_weight": 0.1, "lm_vocab": 0}, "lm_vocab"),
        ({"lm_weight": 0.1, "layers": 2}, "layers 1"),
    ],
)
def test_bad_language_model_settings_are_refused(
    corpus: dict[str, Path], tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        train(tiny_config(corpus, tmp_path, **overrides), log=quiet)  # type: ignore[arg-type]


def test_a_forward_only_network_may_have_layers(corpus: dict[str, Path], tmp_path: Path) -> None:
    # With one direction, no layer's states have seen a later word.
    forward_only = tiny_config(corpus, tmp_path, lm_weight=0.1, layers=2, bidirectional=False)
    assert forward_only.checked_dev_cases() == ["as-is"]  # type: ignore[attr-defined]


def test_train_takes_the_settings_as_flags() -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    files = ["--train", "a.txt", "--dev", "b.txt", "--out", "m"]
    args = parser.parse_args(["train", *files, "--lm-weight", "0.1", "--lm-vocab", "5000"])
    assert (args.lm_weight, args.lm_vocab) == (0.1, 5000)
    assert parser.parse_args(["train", *files]).lm_weight == 0.0
