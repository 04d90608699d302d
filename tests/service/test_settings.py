"""Settings come from ``NER_*`` variables; a bad one stops start-up and is named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from model.bundled import FORWARD_MODEL
from service.cli import main
from service.runs import model_runs
from service.settings import SettingsError, load_settings


def test_values_come_from_ner_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NER_MAX_BATCH_SIZE", "1")
    monkeypatch.setenv("NER_MAX_WAIT_MS", "2.5")
    monkeypatch.setenv("NER_DEVICE", " CPU ")
    monkeypatch.setenv("NER_MODEL", str(tmp_path))
    monkeypatch.setenv("NER_MAX_CLIENT_INFLIGHT", "4")
    monkeypatch.setenv("NER_MODEL_NICE", "7")
    settings = load_settings()
    assert settings.tuning.max_batch_size == 1
    assert settings.tuning.max_wait_ms == 2.5
    assert settings.device == "cpu"
    assert settings.model == tmp_path
    assert settings.tuning.max_client_inflight == 4
    assert {spec.nice for spec in model_runs(settings)} == {7}


def test_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NER_PORT", "1234")
    assert load_settings(port=5678).port == 5678


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NER_MAX_BATCH_SIZE", "0"),
        ("NER_MAX_BATCH_TOKENS", "many"),
        ("NER_MAX_WAIT_MS", "-1"),
        ("NER_MAX_QUEUE", "0"),
        ("NER_MAX_TEXTS", "0"),
        ("NER_MAX_BODY_BYTES", "0"),
        ("NER_PORT", "70000"),
        ("NER_DEVICE", "tpu"),
        ("NER_DEVICE", "cuda:x"),
        ("NER_MODEL", "/no/such/model"),
        ("NER_LOG_LEVEL", "loud"),
        ("NER_REQUEST_TIMEOUT_S", "0"),
        ("NER_SHUTDOWN_GRACE_S", "-1"),
        ("NER_METRICS_PORT", "maybe"),
        ("NER_METRICS_PORT", "70000"),
        ("NER_MODEL_NICE", "20"),
    ],
)
def test_a_bad_value_is_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"{variable}: .*{value}"):
        load_settings()


def test_the_api_key_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NER_API_KEY", "s3cret-key")
    settings = load_settings()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "s3cret-key"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NER_DEVICE", "cuda:0")
    with pytest.raises(SettingsError, match="NER_DEVICE: .*CUDA is not available"):
        load_settings()


def test_serve_stops_at_a_bad_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NER_MAX_QUEUE", "-5")
    assert main(["serve", "--port", "0"]) == 2
    assert "NER_MAX_QUEUE" in capsys.readouterr().err


def test_serve_stops_at_a_bad_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--model", str(tmp_path), "--device", "cpu", "--port", "0"]) == 2
    assert "NER_MODEL" in capsys.readouterr().err


def test_the_model_processes_priority_needs_model_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert {spec.nice for spec in model_runs(load_settings())} == {5}
    monkeypatch.setenv("NER_MODEL_WORKERS", "0")
    assert {spec.nice for spec in model_runs(load_settings())} == {0}
    monkeypatch.setenv("NER_MODEL_NICE", "3")
    with pytest.raises(SettingsError, match="NER_MODEL_NICE needs model processes"):
        load_settings()


def test_defaults_fit_a_small_cpu_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NER_DEVICE", "cpu")
    (spec, forward) = model_runs(load_settings())
    assert spec.processes >= 1 and spec.torch_threads == 1 and forward.processes == 1
    assert spec.call_cost == 1000  # long outliers cut off on the CPU...
    assert (spec.copy_tokens, forward.copy_tokens) == (64, 0)
    monkeypatch.setenv("NER_MODEL_WORKERS", "0")
    (spec, forward) = model_runs(load_settings())
    assert (spec.processes, forward.processes, spec.copy_tokens) == (0, 0, 0)
    monkeypatch.setenv("NER_CALL_COST_TOKENS", "50")
    assert model_runs(load_settings())[0].call_cost == 50


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA here")
def test_batches_stay_whole_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NER_DEVICE", "cuda")
    (spec, _) = model_runs(load_settings())
    assert (spec.call_cost, spec.copy_tokens, spec.processes) == (None, 0, 1)


@pytest.mark.parametrize(
    ("variable", "instead"),
    [
        ("NER_MODEL_PROCESS", "NER_MODEL_WORKERS=0"),
        ("NER_METRICS_ENABLED", "NER_METRICS_PORT=off"),
        ("NER_ACCESS_LOG", "NER_LOG_LEVEL=debug"),
        ("NER_RETRY_AFTER_S", "always 1 s"),
    ],
)
def test_a_setting_that_is_gone_is_named_with_what_replaced_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, instead: str
) -> None:
    monkeypatch.setenv(variable, "false")
    with pytest.raises(SettingsError, match=f"{variable}: not a setting any more; .*{instead}"):
        load_settings()


def test_metrics_can_be_off_or_on_a_port_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().metrics_on_api_port
    monkeypatch.setenv("NER_METRICS_PORT", "OFF")
    assert load_settings().metrics_port == "off" and not load_settings().metrics_on_api_port
    monkeypatch.setenv("NER_METRICS_PORT", "9100")
    assert load_settings().metrics_port == 9100


def test_debug_logging_logs_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not load_settings().access_log
    monkeypatch.setenv("NER_LOG_LEVEL", "debug")
    assert load_settings().access_log


@pytest.mark.parametrize("value", ["none", "off", ""])
def test_compare_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    assert load_settings().forward_model == FORWARD_MODEL
    monkeypatch.setenv("NER_FORWARD_MODEL", value)
    assert load_settings().forward_model is None


@pytest.mark.parametrize("forward", ["empty directory", "bidirectional"])
def test_serve_stops_at_a_bad_forward_model(
    forward: str,
    tiny_model: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The bidirectional one under a name of its own: two models may not share one.
    both_ways = shutil.copytree(tiny_model, tmp_path / "both-ways")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(
        "NER_FORWARD_MODEL", str(empty if forward == "empty directory" else both_ways)
    )
    assert main(["serve", "--model", str(tiny_model), "--device", "cpu", "--port", "0"]) == 2
    error = capsys.readouterr().err
    assert "NER_FORWARD_MODEL: " in error and "NER_MODEL" not in error.replace("NER_FORWARD", "")
    if forward == "bidirectional":
        assert "bidirectional, not forward-only" in error


def test_two_models_of_one_name_or_a_repository_with_them_are_refused(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin = shutil.copytree(tiny_model, tmp_path / "model")  # named as NER_MODEL is
    with pytest.raises(SettingsError, match="both directories are named 'model'"):
        load_settings(model=tiny_model, forward_model=twin)
    monkeypatch.setenv("NER_MODEL", str(tiny_model))
    with pytest.raises(SettingsError, match="NER_MODEL: not used with NER_MODEL_REPOSITORY"):
        load_settings(model_repository=tmp_path)
    monkeypatch.delenv("NER_MODEL")
    with pytest.raises(SettingsError, match="NER_DEFAULT_MODEL names a model of NER_MODEL_REP"):
        load_settings(default_model="news")
    with pytest.raises(SettingsError, match="NER_DEFAULT_MODEL: 'a b' is not a model name"):
        load_settings(model_repository=tmp_path, default_model="a b")
