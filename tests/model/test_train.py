import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from model.artifact import load
from model.data import read_conll
from model.evaluate import evaluate
from model.features import predict
from model.train import train
from tests.conftest import tiny_config


def test_round_trip_train_save_load_predict(corpus: dict[str, Path], tiny_model: Path) -> None:
    loaded = load(tiny_model)
    dev = read_conll(corpus["dev"])
    scores = evaluate(loaded, dev)
    assert scores.f1 > 0.9
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["metadata"]["dev"]["f1"] == pytest.approx(scores.f1)
    assert config["metadata"]["training"]["seed"] == 1
    assert set(loaded.vocab.labels) == {"PER", "LOC", "ORG"}


def test_same_seed_gives_same_model(corpus: dict[str, Path], tmp_path: Path) -> None:
    first = train(tiny_config(corpus, tmp_path / "a", epochs=2), log=lambda _: None)  # type: ignore[arg-type]
    second = train(tiny_config(corpus, tmp_path / "b", epochs=2), log=lambda _: None)  # type: ignore[arg-type]
    assert first is not None and second is not None
    a = load_file(str(tmp_path / "a" / "weights.safetensors"))
    b = load_file(str(tmp_path / "b" / "weights.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resumed_training_equals_uninterrupted(corpus: dict[str, Path], tmp_path: Path) -> None:
    quiet = lambda _: None  # noqa: E731
    train(tiny_config(corpus, tmp_path / "straight", epochs=3, patience=99), log=quiet)  # type: ignore[arg-type]
    train(tiny_config(corpus, tmp_path / "resumed", epochs=1, patience=99), log=quiet)  # type: ignore[arg-type]
    messages: list[str] = []
    train(tiny_config(corpus, tmp_path / "resumed", epochs=3, patience=99), log=messages.append)  # type: ignore[arg-type]
    assert any("resumed after epoch 1" in m for m in messages)
    straight = load_file(str(tmp_path / "straight" / "checkpoint" / "state.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "checkpoint" / "state.safetensors"))
    for key in straight:
        if key.startswith("model."):
            assert torch.allclose(straight[key], resumed[key]), key


def test_resume_refuses_changed_settings(corpus: dict[str, Path], tmp_path: Path) -> None:
    train(tiny_config(corpus, tmp_path / "m", epochs=1), log=lambda _: None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hidden"):
        train(tiny_config(corpus, tmp_path / "m", epochs=2, hidden=30), log=lambda _: None)  # type: ignore[arg-type]


def test_forward_only_twin_trains_with_the_same_recipe(
    corpus: dict[str, Path], tiny_forward_model: Path
) -> None:
    loaded = load(tiny_forward_model)
    assert loaded.network.config.bidirectional is False
    assert loaded.network.gru.bidirectional is False
    tags, _ = predict(loaded.network, loaded.vocab, [["John", "Smith", "visited", "Paris", "."]])
    assert tags[0][3] == "B-LOC"


def test_sgd_recipe_learns_the_fixture(corpus: dict[str, Path], tmp_path: Path) -> None:
    config = tiny_config(corpus, tmp_path / "sgd", optimizer="sgd", lr=0.05, epochs=6)
    scores = train(config, log=lambda _: None)  # type: ignore[arg-type]
    assert scores is not None and scores.f1 > 0.8


def test_unknown_optimizer_is_refused(corpus: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown optimizer"):
        train(tiny_config(corpus, tmp_path / "x", optimizer="lbfgs"), log=lambda _: None)  # type: ignore[arg-type]


def test_weight_average_is_what_gets_saved(corpus: dict[str, Path], tmp_path: Path) -> None:
    train(tiny_config(corpus, tmp_path, epochs=1, ema=0.9), log=lambda _: None)  # type: ignore[arg-type]
    state = load_file(str(tmp_path / "checkpoint" / "state.safetensors"))
    averaged = state["average.module.gru.weight_hh_l0"]
    assert not torch.equal(state["model.gru.weight_hh_l0"], averaged)
    saved = load_file(str(tmp_path / "weights.safetensors"))  # epoch 1 is always the best yet
    assert torch.equal(saved["gru.weight_hh_l0"], averaged)


def test_resumed_training_keeps_the_weight_average(corpus: dict[str, Path], tmp_path: Path) -> None:
    quiet = lambda _: None  # noqa: E731
    train(tiny_config(corpus, tmp_path / "straight", epochs=2, patience=99, ema=0.9), log=quiet)  # type: ignore[arg-type]
    train(tiny_config(corpus, tmp_path / "resumed", epochs=1, patience=99, ema=0.9), log=quiet)  # type: ignore[arg-type]
    train(tiny_config(corpus, tmp_path / "resumed", epochs=2, patience=99, ema=0.9), log=quiet)  # type: ignore[arg-type]
    key = "average.module.gru.weight_hh_l0"
    straight = load_file(str(tmp_path / "straight" / "checkpoint" / "state.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "checkpoint" / "state.safetensors"))
    assert torch.allclose(straight[key], resumed[key])
