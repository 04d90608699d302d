"""The service's configuration, read from ``NER_*`` environment variables.

:class:`Settings` holds what users set (the README's settings table), and
:class:`service.tuning.Tuning` the knobs whose defaults were measured;
:meth:`Settings.model_settings` derives how each served model is run. A bad value stops the
process at start-up with a message naming the variable (:func:`load_settings`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.bundled import DEFAULT_MODEL, FORWARD_MODEL
from service.tuning import ENV_PREFIX, Tuning

_DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d+)?")
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
#: Seconds sent in ``Retry-After`` with every 429 and 503.
RETRY_AFTER_S = 1

#: The role of the model that answers ``/v1/tag`` (and is ``/v1/compare``'s bidirectional side).
TAG = "tag"
#: The role of ``/v1/compare``'s forward-only model.
FORWARD = "forward"

#: Variables that are settings no more, and what replaced them.
_REPLACED = {
    "NER_MODEL_PROCESS": "NER_MODEL_WORKERS=0 runs the model in the server process",
    "NER_METRICS_ENABLED": "NER_METRICS_PORT=off serves no metrics",
    "NER_ACCESS_LOG": "NER_LOG_LEVEL=debug logs every request",
    "NER_RETRY_AFTER_S": "Retry-After is always 1 s",
}


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """How one served model is loaded and run: its ``role`` (:data:`TAG` or :data:`FORWARD`),
    its artifact directory ``path`` and the ``variable`` that names it (quoted by errors about
    it), ``device`` and ``torch_threads``; ``processes``, its model processes (0: it runs in
    the server process); ``copy_tokens``, the largest batch that a copy of the model in the
    server tags under light load; ``nice``, added to the model processes' niceness;
    ``spill_tokens``, the tokens that must wait before a second batch goes out while one
    computes; ``call_cost``, one model call's cost in padded tokens (None: never cut)."""

    role: str
    path: Path
    variable: str

    device: str
    torch_threads: int
    processes: int
    copy_tokens: int = 0
    nice: int = 0
    spill_tokens: int = 0
    call_cost: int | None = None


class SettingsError(ValueError):
    """Invalid configuration; the message names each offending ``NER_*`` variable."""


class Settings(BaseSettings):
    """What users set, each field read from ``NER_<FIELD NAME>``; :attr:`tuning` the rest."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    model: Path = Field(DEFAULT_MODEL, validate_default=False)
    """Model directory to serve; the bundled BiGRU by default."""

    forward_model: Path | None = Field(FORWARD_MODEL, validate_default=False)
    """Forward-only model of ``/v1/compare`` and the page; ``none`` turns comparing off."""

    device: str = "auto"
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""

    host: str = "127.0.0.1"
    """Address to listen on; ``0.0.0.0`` to accept connections from other machines."""

    port: int = Field(8000, ge=0, le=65535)
    """TCP port to listen on; 0 lets the system pick a free one (logged at start)."""

    api_key: SecretStr | None = Field(None, min_length=1)
    """Required on every ``/v1/*`` request (Bearer or ``X-API-Key``) when set."""

    model_workers: int | None = Field(None, ge=0)
    """Model processes of the served model, each computing a batch on a core of its own
    (about 300 MB each); 0: the model runs in the server process. Unset: two on the CPU when
    this process may use two CPUs or more (affinity and cgroup quota), else one."""

    max_queue: int = Field(1024, ge=1)
    """Most sentences waiting for the model; beyond it 503 ``queue_full``."""

    max_texts: int = Field(64, ge=1)
    """Most texts (or pre-tokenized sentences) in one request."""

    max_text_chars: int = Field(10_000, ge=1)
    """Longest text in characters (pre-tokenized: a sentence's tokens and the spaces between)."""

    max_body_bytes: int = Field(1_000_000, ge=1)
    """Largest request body; larger ones get 413 before they are parsed."""

    request_timeout_s: float | None = Field(None, gt=0)
    """Longest a ``/v1/*`` request may take (504 beyond, its sentences withdrawn)."""

    shutdown_grace_s: float = Field(25.0, ge=0)
    """On SIGTERM, how long accepted requests get to finish."""

    metrics_port: int | Literal["off"] | None = None
    """``/metrics`` on a port of its own (0: any free one); ``off``: no metrics. Unset: on the
    API's port."""

    log_level: str = "info"
    """uvicorn's log level; ``debug`` and ``trace`` also log every request."""

    tuning: Tuning = Field(default_factory=Tuning)

    @field_validator("forward_model", mode="before")
    @classmethod
    def _none_turns_compare_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"", "none", "off"}:
            return None
        return value

    @field_validator("model", "forward_model")
    @classmethod
    def _model_is_directory(cls, value: Path | None) -> Path | None:
        # The bundled defaults are checked when they are loaded: they may not be installed yet.
        if value is not None and not value.is_dir():
            raise ValueError(f"{value} is not a model directory")
        return value

    @field_validator("device")
    @classmethod
    def _device_exists(cls, value: str) -> str:
        value = value.strip().lower()
        if not _DEVICE_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not one of auto, cpu, cuda, cuda:N")
        if value.startswith("cuda"):
            from model.device import resolve_device

            resolve_device(value)
        return value

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _port_or_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() == "off":
            return "off"
        return value

    @field_validator("metrics_port")
    @classmethod
    def _is_a_port(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and not 0 <= value <= 65535:
            raise ValueError("not a port (0 to 65535), nor off")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in _LOG_LEVELS:
            raise ValueError(f"{value!r} is not one of {', '.join(_LOG_LEVELS)}")
        return value

    @model_validator(mode="after")
    def _tuning_fits(self) -> Settings:
        in_server = self.model_workers == 0
        if in_server and self.tuning.model_in_server_tokens:
            raise ValueError(
                "NER_MODEL_IN_SERVER_TOKENS needs model processes (the model is "
                "in the server already with NER_MODEL_WORKERS=0)"
            )
        if self.device.startswith("cuda") and self.tuning.model_in_server_tokens:
            raise ValueError(
                "NER_MODEL_IN_SERVER_TOKENS: the copy of the model computes on the CPU only"
            )
        if in_server and self.tuning.model_nice:
            raise ValueError("NER_MODEL_NICE needs model processes (NER_MODEL_WORKERS=0)")
        return self

    @property
    def metrics_on_api_port(self) -> bool:
        """Whether the API's port serves ``/metrics``."""
        return self.metrics_port is None

    @property
    def metrics_port_apart(self) -> int | None:
        """The port of its own that serves ``/metrics``, if one does."""
        return self.metrics_port if isinstance(self.metrics_port, int) else None

    @property
    def access_log(self) -> bool:
        """Whether uvicorn logs every request."""
        return self.log_level in ("debug", "trace")

    def model_settings(self) -> list[ModelSettings]:
        """The models to serve: ``model`` (:data:`TAG`) and, unless comparing is off,
        ``forward_model`` (:data:`FORWARD`, one process, no copy in the server)."""
        on_cpu = self._on_cpu()
        processes = self.model_workers
        if processes is None:
            processes = min(2, usable_cpus()) if on_cpu else 1
        t = self.tuning
        copy = t.model_in_server_tokens
        if copy is None:
            copy = 64 if processes and on_cpu else 0
        nice = t.model_nice if t.model_nice is not None else (5 if processes else 0)
        call_cost = t.call_cost_tokens
        if call_cost is None and on_cpu:
            call_cost = 1000
        models = [(TAG, self.model, "NER_MODEL", processes, copy)]
        if self.forward_model is not None:
            models.append((FORWARD, self.forward_model, "NER_FORWARD_MODEL", min(processes, 1), 0))
        return [
            ModelSettings(
                role,
                path,
                variable,
                self.device,
                t.torch_threads,
                count,
                copy_tokens,
                nice,
                t.model_worker_min_tokens,
                call_cost,
            )
            for role, path, variable, count, copy_tokens in models
        ]

    def _on_cpu(self) -> bool:
        """Whether the model computes on the CPU (``auto``: when CUDA is not available)."""
        if self.device == "auto":
            import torch

            return not torch.cuda.is_available()
        return self.device == "cpu"


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may run on, at most its cgroup's CPU quota (whole CPUs, at least one):
    in a container limited to 2 CPUs of a 64-core host, 2."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    try:
        quota, period = cgroup.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here
    return cpus


def env_name(field: str) -> str:
    """The environment variable of a settings field: ``max_queue`` -> ``NER_MAX_QUEUE``."""
    return ENV_PREFIX + field.upper()


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` (e.g. command-line flags) on top.

    Raises :class:`SettingsError` naming every bad variable, or a variable that is a setting
    no more, instead of pydantic's error.
    """
    gone = [
        f"{name}: not a setting any more; {instead}"
        for name, instead in _REPLACED.items()
        if name in os.environ
    ]
    if gone:
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(gone))
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            message = problem["msg"].removeprefix("Value error, ")
            if not problem["loc"]:  # a rule across fields: its message names the variables
                lines.append(message)
                continue
            name = env_name(str(problem["loc"][0]))
            lines.append(f"{name}: {message} (got {_shown(problem.get('input'))})")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def _shown(value: Any) -> str:
    return repr(str(value)) if isinstance(value, Path) else repr(value)
