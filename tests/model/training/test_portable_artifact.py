"""An artifact anyone can serve: readable by all whatever the umask, and free of the training
machine's paths."""

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from model import artifact
from model.training.train import train
from tests.conftest import tiny_config


@pytest.fixture
def strict_umask() -> Iterator[None]:
    """Files created as under ``umask 077``: readable by their owner alone unless set."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_a_trained_artifact_is_readable_by_all_and_names_no_path(
    corpus: dict[str, Path], tmp_path: Path, strict_umask: None
) -> None:
    out = tmp_path / "model"
    train(tiny_config(corpus, out, epochs=1), log=lambda _: None)  # type: ignore[arg-type]
    assert _mode(out) == 0o755
    files = [out / artifact.CONFIG, out / artifact.VOCAB, out / artifact.WEIGHTS]
    assert {f.name: _mode(f) for f in files} == {f.name: 0o644 for f in files}
    loaded = artifact.load(out)  # what a server of another user would do
    for name in (artifact.CONFIG, artifact.VOCAB):
        text = (out / name).read_text(encoding="utf-8")
        assert str(tmp_path) not in text and str(corpus["train"].parent) not in text
        assert not any(os.path.isabs(s) for s in _strings(json.loads(text)))
    recorded = loaded.metadata["training"]
    names = [recorded[k] for k in ("train", "dev", "out", "embeddings")]
    assert names == ["train.txt", "dev.txt", "model", "glove.txt"]
    data = loaded.metadata["data"]["train"]
    assert data["file"] == "train.txt" and data["sentences"] == 120
    assert len(data["sha256"]) == 64


def test_save_overrides_the_umask_and_an_existing_mode(
    tiny_model: Path, tmp_path: Path, strict_umask: None
) -> None:
    loaded = artifact.load(tiny_model)
    out = tmp_path / "copy"
    out.mkdir(mode=0o700)
    artifact.save(out, loaded.network, loaded.vocab, loaded.metadata)
    assert _mode(out) == 0o755
    assert sorted((p.name, _mode(p)) for p in out.iterdir()) == [
        (artifact.CONFIG, 0o644),
        (artifact.VOCAB, 0o644),
        (artifact.WEIGHTS, 0o644),
    ]
