"""A bad model directory stops ``bigru-ner serve`` before it listens, with a message that says
which file is wrong and how; it never comes up half-working."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from model.artifact import ArtifactError
from service.cli import main
from service.core.models import load_backends
from service.core.process import ChildProcessBackend
from tests.service.support import settings


def _drop(name: str) -> Callable[[Path], None]:
    return lambda model: (model / name).unlink()


def _write(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda model: (model / name).write_bytes(content)


def _vocab_shrunk(model: Path) -> None:
    vocab = json.loads((model / "vocab.json").read_text())
    vocab["words"] = vocab["words"][:-1]  # one word fewer than config.json and the weights have
    (model / "vocab.json").write_text(json.dumps(vocab))


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (_drop("weights.safetensors"), "missing weights.safetensors"),
        (_drop("config.json"), "missing config.json"),
        (_write("vocab.json", b'{"words": ['), "vocab.json: not valid JSON"),
        (_write("weights.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage"), "unreadable"),
        (_vocab_shrunk, "words, config.json expects"),
    ],
    ids=["no weights", "no config", "corrupt vocab", "corrupt weights", "inconsistent"],
)
def test_a_bad_model_stops_start_up_and_says_what_is_wrong(
    tiny_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: Callable[[Path], None],
    message: str,
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("checkpoint"))
    fault(model)
    # The default: the model loads in its own process, which reports the problem back.
    assert main(["serve", "--model", str(model), "--device", "cpu", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "NER_MODEL" in err and message in err, err
    assert "Traceback" not in err


def test_both_models_load_side_by_side_each_in_its_place(
    tiny_model: Path, tiny_forward_model: Path
) -> None:
    specs = settings(model=tiny_model, forward_model=tiny_forward_model, device="cpu")
    backends = load_backends(specs.model_settings())
    try:
        tagger, forward = backends["tag"], backends["forward"]
        assert isinstance(tagger, ChildProcessBackend) and isinstance(forward, ChildProcessBackend)
        assert tagger.info.bidirectional and not forward.info.bidirectional
    finally:
        for backend in backends.values():
            backend.close()


def test_a_bad_forward_model_ends_the_main_models_process_too(
    tiny_model: Path, tmp_path: Path
) -> None:
    before = set(multiprocessing.active_children())
    with pytest.raises(ArtifactError, match="NER_FORWARD_MODEL"):
        specs = settings(model=tiny_model, forward_model=tmp_path, device="cpu")
        load_backends(specs.model_settings())
    assert set(multiprocessing.active_children()) == before
