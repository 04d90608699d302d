"""A bad model directory stops ``bigru-ner serve`` before it listens, with a message that says
which file is wrong and how; it never comes up half-working."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from model.cli import main


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
