import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from model.artifact import load
from model.data import read_conll, recase
from model.features import collate, tag_sentences
from model.training.evaluate import evaluate
from model.training.train import case_choices, train
from model.vocab import CASINGS
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
    sentence = ["John", "Smith", "visited", "Paris", "."]
    (predicted,) = tag_sentences(loaded.network, loaded.vocab, [sentence])
    assert predicted.tags[3] == "B-LOC"


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


def test_case_choices_follow_the_probabilities(corpus: dict[str, Path], tmp_path: Path) -> None:
    config = tiny_config(corpus, tmp_path, case_lower=0.25, case_upper=0.25)
    seen = case_choices(20_000, config, torch.Generator().manual_seed(5))  # type: ignore[arg-type]
    assert seen.count("lower") / 20_000 == pytest.approx(0.25, abs=0.02)
    assert seen.count("upper") / 20_000 == pytest.approx(0.25, abs=0.02)
    assert seen == case_choices(20_000, config, torch.Generator().manual_seed(5))  # type: ignore[arg-type]
    plain = tiny_config(corpus, tmp_path)
    assert set(case_choices(100, plain, torch.Generator())) == {"as-is"}  # type: ignore[arg-type]


def test_case_augmented_training_feeds_recased_sentences(
    corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    casings: list[set[int]] = []
    real_collate = collate

    def spy(sentences: Any, tags: Any = None) -> Any:
        if tags is not None:  # training batches; dev prediction passes no tags
            casings.append({c for s in sentences for c in s.casing})
        return real_collate(sentences, tags)

    monkeypatch.setattr("model.training.train.collate", spy)
    config = tiny_config(corpus, tmp_path / "m", epochs=1, case_lower=1.0)
    train(config, log=lambda _: None)  # type: ignore[arg-type]
    lower, title, upper = CASINGS.index("lower"), CASINGS.index("title"), CASINGS.index("upper")
    seen = set().union(*casings)
    assert lower in seen and title not in seen and upper not in seen
    casings.clear()
    train(tiny_config(corpus, tmp_path / "n", epochs=1), log=lambda _: None)  # type: ignore[arg-type]
    assert title in set().union(*casings)


def test_model_is_selected_on_the_mean_over_dev_cases(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    config = tiny_config(corpus, tmp_path, epochs=3, dev_cases="as-is,lower,upper")
    train(config, log=lambda _: None)  # type: ignore[arg-type]
    history = json.loads((tmp_path / "checkpoint" / "state.json").read_text())["state"]["history"]
    for epoch in history:
        by_case = epoch["dev_f1_by_case"]
        assert set(by_case) == {"as-is", "lower", "upper"}
        assert epoch["dev_f1"] == pytest.approx(sum(by_case.values()) / 3)
    best = max(history, key=lambda e: e["dev_f1"])
    metadata = json.loads((tmp_path / "config.json").read_text())["metadata"]
    assert metadata["best_epoch"] == best["epoch"]
    dev = read_conll(corpus["dev"])
    loaded = load(tmp_path)
    for case, saved in metadata["dev_by_case"].items():
        assert evaluate(loaded, recase(dev, case)).f1 == pytest.approx(saved["f1"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dev_cases": "as-is,title"}, "dev_cases"),
        ({"dev_cases": ""}, "dev_cases"),
        ({"case_lower": 0.7, "case_upper": 0.5}, "together <= 1"),
        ({"case_lower": -0.1}, "each >= 0"),
    ],
)
def test_bad_case_settings_are_refused(
    corpus: dict[str, Path], tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        train(tiny_config(corpus, tmp_path, **overrides), log=lambda _: None)  # type: ignore[arg-type]


def test_select_last_trains_every_epoch_and_keeps_the_last(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    messages: list[str] = []
    config = tiny_config(corpus, tmp_path / "last", epochs=3, patience=1, select="last")
    train(config, log=messages.append)  # type: ignore[arg-type]
    assert sum(m.startswith("epoch") for m in messages) == 3  # patience does not stop it
    saved = json.loads((tmp_path / "last" / "config.json").read_text())["metadata"]
    assert saved["best_epoch"] == 3 and saved["training"]["select"] == "last"
    state = json.loads((tmp_path / "last" / "checkpoint" / "state.json").read_text())
    weights = load_file(str(tmp_path / "last" / "weights.safetensors"))
    checkpointed = load_file(str(tmp_path / "last" / "checkpoint" / "state.safetensors"))
    assert state["state"]["epoch"] == 3
    # The last epoch's weights (the word table is stored in half precision).
    last = {k: checkpointed["model." + k].to(weights[k].dtype) for k in weights}
    assert all(torch.equal(weights[k], last[k]) for k in weights)
    with pytest.raises(ValueError, match="select"):
        train(tiny_config(corpus, tmp_path / "other", select="first"), log=lambda _: None)  # type: ignore[arg-type]


def test_a_checkpoint_older_than_a_setting_resumes_with_its_default(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    train(tiny_config(corpus, tmp_path / "m", epochs=1), log=lambda _: None)  # type: ignore[arg-type]
    state = tmp_path / "m" / "checkpoint" / "state.json"
    meta = json.loads(state.read_text())
    del meta["config"]["select"]  # as written before the setting existed
    state.write_text(json.dumps(meta))
    messages: list[str] = []
    train(tiny_config(corpus, tmp_path / "m", epochs=2), log=messages.append)  # type: ignore[arg-type]
    assert any("resumed after epoch 1" in m for m in messages)
