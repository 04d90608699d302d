"""The service's configuration, read from ``NER_*`` environment variables.

:class:`Settings` holds what users set (the README's settings table), and
:class:`service.tuning.Tuning` the knobs whose defaults were measured (how each served model
runs is derived from both in :mod:`service.runs`). A bad value stops the
process at start-up with a message naming the variable (:func:`load_settings`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.bundled import DEFAULT_MODEL, FORWARD_MODEL
from service.core.repository import NAME
from service.tuning import ENV_PREFIX, Tuning

_DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d+)?")
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
#: Seconds sent in ``Retry-After`` with every 429 and 503.
RETRY_AFTER_S = 1

#: Variables that are settings no more, and what replaced them.
_REPLACED = {
    "NER_MODEL_PROCESS": "NER_MODEL_WORKERS=0 runs the model in the server process",
    "NER_METRICS_ENABLED": "NER_METRICS_PORT=off serves no metrics",
    "NER_ACCESS_LOG": "NER_LOG_LEVEL=debug logs every request",
    "NER_RETRY_AFTER_S": "Retry-After is always 1 s",
}


class SettingsError(ValueError):
    """Invalid configuration; the message names each offending ``NER_*`` variable."""


class Settings(BaseSettings):
    """What users set, each field read from ``NER_<FIELD NAME>``; :attr:`tuning` the rest."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    model: Path = Field(DEFAULT_MODEL, validate_default=False)
    """Model directory to serve; the bundled BiGRU by default."""

    forward_model: Path | None = Field(FORWARD_MODEL, validate_default=False)
    """Forward-only model of ``/v1/compare`` and the page; ``none`` turns comparing off."""

    model_repository: Path | None = None
    """A model repository, ``<dir>/<name>/<version>/``: each model in it is served, at the
    highest version that loads (``NER_MODEL`` and ``NER_FORWARD_MODEL`` are then not used)."""

    default_model: str | None = None
    """With a repository, the model of requests that name none; unset: ``bigru-conll03``
    when the repository has it, else the first by name."""

    max_models: int = Field(8, ge=1)
    """With a repository, the most models loaded at once; any more are listed as failed."""

    model_poll_s: float = Field(10.0, ge=0)
    """With a repository, seconds between two looks at it for new, changed or removed models
    and versions; 0: only ``POST /v1/models/{name}/load`` looks."""

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

    @field_validator("model", "forward_model", "model_repository")
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

    @field_validator("default_model")
    @classmethod
    def _is_a_model_name(cls, value: str | None) -> str | None:
        if value is not None and not NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a model name")
        return value

    @model_validator(mode="after")
    def _one_way_to_name_models(self) -> Settings:
        if self.model_repository is None:
            if self.default_model is not None:
                raise ValueError("NER_DEFAULT_MODEL names a model of NER_MODEL_REPOSITORY")
            if self.forward_model is not None and self.forward_model.name == self.model.name:
                raise ValueError(
                    f"NER_MODEL and NER_FORWARD_MODEL: both directories are named "
                    f"{self.model.name!r}, which is how requests and metrics name models"
                )
        elif given := {"model", "forward_model"} & self.model_fields_set:
            names = " and ".join(env_name(field) for field in sorted(given))
            raise ValueError(f"{names}: not used with NER_MODEL_REPOSITORY; set one or the other")
        return self

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
