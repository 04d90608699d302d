import json
import shutil
from pathlib import Path

import pytest
import torch

from model.artifact import ArtifactError, load, save
from model.features import tag_sentences


@pytest.fixture
def copy(tiny_model: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(tiny_model, target, ignore=shutil.ignore_patterns("checkpoint"))
    return target


SENTENCE = [["Mary", "Rossi", "visited", "Oslo", "."]]


def test_save_and_load_give_identical_predictions(copy: Path, tmp_path: Path) -> None:
    loaded = load(copy)
    save(tmp_path / "again", loaded.network, loaded.vocab, loaded.metadata)
    again = load(tmp_path / "again")
    assert tag_sentences(loaded.network, loaded.vocab, SENTENCE) == tag_sentences(
        again.network, again.vocab, SENTENCE
    )
    assert again.metadata == loaded.metadata
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == [
        "config.json",
        "vocab.json",
        "weights.safetensors",
    ]


def edit_json(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_vocab_size_mismatch_is_refused(copy: Path) -> None:
    edit_json(copy / "vocab.json", lambda v: v["words"].append("zzzz"))
    with pytest.raises(ArtifactError, match="words"):
        load(copy)


def test_tag_set_mismatch_is_refused(copy: Path) -> None:
    edit_json(copy / "vocab.json", lambda v: v["tags"].append("B-NEW"))
    with pytest.raises(ArtifactError, match="tags"):
        load(copy)


def test_config_shape_mismatch_is_refused(copy: Path) -> None:
    edit_json(copy / "config.json", lambda c: c["model"].update(hidden=c["model"]["hidden"] + 1))
    with pytest.raises(ArtifactError, match="shape"):
        load(copy)


def test_corrupt_weights_are_refused(copy: Path) -> None:
    data = (copy / "weights.safetensors").read_bytes()
    (copy / "weights.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="weights.safetensors"):
        load(copy)


def test_corrupt_json_and_missing_files_are_refused(copy: Path) -> None:
    (copy / "config.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load(copy)
    (copy / "config.json").unlink()
    with pytest.raises(ArtifactError, match="missing config.json"):
        load(copy)
    with pytest.raises(ArtifactError, match="not a model directory"):
        load(copy / "nothing-here")


def test_unknown_config_key_is_refused(copy: Path) -> None:
    edit_json(copy / "config.json", lambda c: c["model"].update(attention=True))
    with pytest.raises(ArtifactError, match="attention"):
        load(copy)


def test_weights_are_not_pickle(copy: Path) -> None:
    head = (copy / "weights.safetensors").read_bytes()[:8]
    header_length = int.from_bytes(head, "little")
    header = json.loads((copy / "weights.safetensors").read_bytes()[8 : 8 + header_length])
    assert "words.weight" in header
    assert isinstance(load(copy).network.words.weight, torch.nn.Parameter)
