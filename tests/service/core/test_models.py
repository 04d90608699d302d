"""Loading the served models (:func:`service.core.loading.load_workers` and
``load_settings_models``): each in its place and in as many copies as its settings say; a bad
model directory stops ``bigru-ner serve`` before it listens, with a message that says which file
is wrong and how; it never comes up half-working."""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import torch

from model.artifact import ArtifactError
from model.pipeline import Prediction
from model.tagger import Tagger
from service.cli import main
from service.core import loading
from service.core.backend import Backend, InProcessBackend
from service.core.loading import close, load_settings_models, load_workers
from service.core.process import ChildProcessBackend
from service.runs import ModelSettings, model_runs, usable_cpus
from tests.service.support import StubTagger, settings


def _drop(name: str) -> Callable[[Path], object]:
    return lambda model: (model / name).unlink()


def _write(name: str, content: bytes) -> Callable[[Path], object]:
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
    fault: Callable[[Path], object],
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
    loaded = load_settings_models(specs)
    try:
        assert set(loaded) == {"model", "forward-model"}
        tagger, forward = loaded["model"].workers, loaded["forward-model"].workers
        assert tagger is not None and forward is not None
        for workers in (tagger, forward):
            assert [type(b) for b in workers.backends] == [ChildProcessBackend]
            assert workers.copy is None
        assert tagger.info.bidirectional and not forward.info.bidirectional
        assert loaded["model"].twin == "forward-model" and loaded["forward-model"].forward_only
    finally:
        close(*(load.workers for load in loaded.values() if load.workers is not None))
    assert not tagger.alive and not forward.alive


def test_a_bad_forward_model_ends_the_main_models_process_too(
    tiny_model: Path, tmp_path: Path
) -> None:
    before = set(multiprocessing.active_children())
    with pytest.raises(ArtifactError, match="NER_FORWARD_MODEL"):
        load_settings_models(settings(model=tiny_model, forward_model=tmp_path, device="cpu"))
    assert set(multiprocessing.active_children()) == before


def test_a_bidirectional_forward_model_is_refused_and_closed(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    closed: list[Backend] = []
    monkeypatch.setattr(InProcessBackend, "close", lambda self: closed.append(self))
    both_ways = shutil.copytree(tiny_model, tmp_path / "both-ways")
    spec = settings(model=tiny_model, forward_model=both_ways, model_workers=0, device="cpu")
    with pytest.raises(ArtifactError, match="NER_FORWARD_MODEL: .* is bidirectional"):
        load_workers(model_runs(spec)[1])
    assert len(closed) == 1


def test_without_model_processes_the_model_is_loaded_in_the_server(
    tiny_model: Path, tiny_tagger: Tagger
) -> None:
    spec = model_runs(settings(model=tiny_model, model_workers=0, device="cpu"))[0]
    workers = load_workers(spec)
    (backend,) = workers.backends
    assert isinstance(backend, InProcessBackend) and workers.copy is None
    assert backend.info.device == "cpu"
    sentences = [["Mary", "Rossi", "visited", "Oslo", "."]]
    assert backend.tag_sentences(sentences) == tiny_tagger.tag_sentences(sentences)


def test_model_processes_that_cannot_all_start_are_all_closed(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[InProcessBackend] = []
    closed: list[InProcessBackend] = []
    lock = threading.Lock()

    def start(spec: ModelSettings) -> InProcessBackend:
        with lock:
            if started:
                raise RuntimeError("no room for a second one")
            member = InProcessBackend(StubTagger())
            member.close = lambda: closed.append(member)  # type: ignore[method-assign]
            started.append(member)
        return member

    monkeypatch.setattr(loading, "_child", start)
    spec = model_runs(settings(model=tiny_model, model_workers=2, device="cpu"))[0]
    with pytest.raises(RuntimeError, match="no room"):
        load_workers(spec)
    assert len(started) == 1 and closed == started


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (lambda s: [Prediction(["B-DRUG"] * 9, [0.5] * 9)], "tags outside its labels ['PER']"),
        (lambda s: [Prediction(["O"], [0.5])], "1 tags for the test sentence's 9 words"),
        (lambda s: [Prediction(["B-PER"] * 9, [1.5] * 9)], "probabilities outside"),
        (lambda s: 1 / 0, "failed on the test sentence: ZeroDivisionError"),
    ],
)
def test_a_model_that_answers_the_test_sentence_wrong_is_refused(
    tiny_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    answer: Callable[[Sequence[Sequence[str]]], list[Prediction]],
    why: str,
) -> None:
    closed = []

    def start(spec: ModelSettings) -> InProcessBackend:
        stub = StubTagger()
        stub.tag_sentences = answer  # type: ignore[method-assign,assignment]
        backend = InProcessBackend(stub)
        backend.close = lambda: closed.append(backend)  # type: ignore[method-assign]
        return backend

    monkeypatch.setattr(loading, "_child", start)
    spec = model_runs(settings(model=tiny_model, model_workers=1, device="cpu"))[0]
    with pytest.raises(ArtifactError, match=re.escape(why)):
        load_workers(spec)
    assert len(closed) == 1  # refused, and closed


def test_how_many_copies_each_model_is_loaded_in(tiny_model: Path) -> None:
    def spec(**values: object) -> ModelSettings:
        return model_runs(settings(model=tiny_model, device="cpu", **values))[0]

    # Two model processes where two CPUs may be used, a copy in the server beside them.
    assert spec(model_workers=None).processes == min(2, usable_cpus())
    assert spec(model_workers=3).processes == 3
    assert spec(model_in_server_tokens=None).copy_tokens == 64
    assert spec(model_in_server_tokens=9).copy_tokens == 9
    assert spec(model_workers=0, model_in_server_tokens=None).copy_tokens == 0
    auto = settings(model=tiny_model, device="auto", model_in_server_tokens=None)
    assert model_runs(auto)[0].copy_tokens == (0 if torch.cuda.is_available() else 64)
    with pytest.raises(ValueError, match="NER_MODEL_IN_SERVER_TOKENS needs model processes"):
        spec(model_workers=0, model_in_server_tokens=8)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("150000 100000", 1), ("200000 100000", 2), ("50000 100000", 1), ("max 100000", None)],
)
def test_usable_cpus_follow_the_cgroup_quota(
    tmp_path: Path, cpu_max: str, expected: int | None
) -> None:
    quota = tmp_path / "cpu.max"
    quota.write_text(cpu_max + "\n")
    cpus = usable_cpus(tmp_path / "absent")
    assert usable_cpus(quota) == (cpus if expected is None else min(cpus, expected))
