"""Service configuration: the server's :class:`Settings`, read from ``NER_*`` environment
variables, and the :class:`ModelSettings` of each model it serves, derived from them.

Every value is checked when the settings are built, so a bad one stops the process at start-up
with a message that names the variable (:func:`load_settings`). Where a default comes from a
measurement, BENCHMARKS.md ("Where the defaults come from") has it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.artifact import DEFAULT_MODEL, FORWARD_MODEL

ENV_PREFIX = "NER_"
_DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d+)?")
#: Default of ``call_cost_tokens`` on CPU, in padded tokens (see the field).
CPU_CALL_COST_TOKENS = 1000
#: The default of ``NER_MODEL_IN_SERVER_TOKENS`` on the CPU.
IN_SERVER_TOKENS = 64
#: The default of ``NER_MODEL_NICE`` with model processes.
MODEL_NICE = 5


#: The role of the model that answers ``/v1/tag`` (and is ``/v1/compare``'s bidirectional side).
TAG = "tag"
#: The role of ``/v1/compare``'s forward-only model.
FORWARD = "forward"


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """How to load and run one served model (the server's settings hold the rest)."""

    #: :data:`TAG` or :data:`FORWARD`.
    role: str
    #: The artifact directory.
    path: Path
    #: The variable that names it, quoted by the errors about it.
    variable: str
    device: str
    torch_threads: int
    #: Load it in a child process of its own (else in the server's).
    child_process: bool
    #: Model processes computing batches side by side (with ``child_process`` only).
    workers: int = 1
    #: Batches of at most this many tokens, sent while they are the only request in progress
    #: and no other batch is out, are tagged by a copy of the model in the server process
    #: (with ``child_process`` only; 0: none).
    in_server_tokens: int = 0
    #: Added to the niceness of its model processes (with ``child_process`` only).
    nice: int = 0

    @property
    def forward_only(self) -> bool:
        """Whether it must read left to right only (set against the BiGRU, a second
        bidirectional model would show nothing about backward context)."""
        return self.role == FORWARD


class SettingsError(ValueError):
    """Invalid configuration; the message names each offending ``NER_*`` variable."""


class Settings(BaseSettings):
    """Everything the service can be told, each field read from ``NER_<FIELD NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    model: Path = Field(DEFAULT_MODEL, validate_default=False)
    """Model directory to serve (``config.json``, ``vocab.json``, ``weights.safetensors``);
    the bundled BiGRU by default."""

    forward_model: Path | None = Field(FORWARD_MODEL, validate_default=False)
    """Forward-only model that ``POST /v1/compare`` and the page at ``/`` set against the served
    one, to show what the backward direction changes (the bundled GRU by default); ``none``
    turns the comparison off, and ``/v1/compare`` then answers 404 ``compare_disabled``."""

    device: str = "auto"
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:N``."""

    host: str = "127.0.0.1"
    """Address to listen on; ``0.0.0.0`` to accept connections from other machines."""

    port: int = Field(8000, ge=0, le=65535)
    """TCP port to listen on; 0 lets the system pick a free one (logged at start)."""

    max_batch_size: int = Field(128, ge=1)
    """Most sentences tagged in one model call; 1 turns dynamic batching off. Requests of many
    sentences fill large batches, which cost less per sentence; one-sentence requests still
    come in batches of about half the open connections."""

    max_batch_tokens: int = Field(16384, ge=1)
    """Token budget of one batch, counted with padding (sentences x longest sentence). A
    sentence longer than the budget runs in a batch of its own."""

    call_cost_tokens: int | None = Field(None, ge=0)
    """What one model call costs, counted in padded tokens. The model pads each call to its
    longest sentence, so a batch is cut into groups of similar length, one call each, wherever
    the padding saved is worth more than the extra calls. Unset: 1000 on CPU, which only cuts
    off rare long sentences: the character CNN skips padding and the GRU runs packed, so a
    cut mostly adds GRU steps; on CUDA, where padding is nearly free, batches stay whole."""

    max_wait_ms: float = Field(0.0, ge=0, le=10_000)
    """How long a batch may wait for more sentences after its first one, in milliseconds. At 0
    a batch takes what is queued when the model is free: a lone request goes at once, and
    under load batches fill while the model works on the one before; waiting slows a lone
    request down and gained nothing under load on CPU."""

    max_queue: int = Field(1024, ge=1)
    """Most sentences waiting for the model; a request that does not fit is refused at once
    with 503 and ``Retry-After``."""

    max_texts: int = Field(64, ge=1)
    """Most texts (or pre-tokenized sentences) in one request."""

    max_text_chars: int = Field(10_000, ge=1)
    """Longest text in characters (pre-tokenized: a token list joined by spaces)."""

    deciding_max_sentence_tokens: int = Field(100, ge=1)
    """Longest sentence, in tokens, of a ``POST /v1/compare`` request that asks for deciding
    words (``"deciding_words": true``); a longer one gets 413 ``sentence_too_long`` before any
    model work. Finding them in a sentence of n tokens tags up to n - 1 of its prefixes."""

    deciding_max_tokens: int = Field(16384, ge=1)
    """Budget of the one model call that tags a compare request's prefixes to find its deciding
    words, counted with padding (prefixes x longest prefix), like :attr:`max_batch_tokens`; a
    request whose changed tokens need more gets 413 ``deciding_too_costly``."""

    max_body_bytes: int = Field(1_000_000, ge=1)
    """Largest request body in bytes; larger ones get 413 before they are parsed."""

    max_client_inflight: int | None = Field(None, ge=1)
    """Tag requests one client address may have in progress; more get 429. Unset: no limit
    (behind a proxy every request comes from the proxy's address)."""

    retry_after_s: int = Field(1, ge=0)
    """Seconds sent in ``Retry-After`` with 429 and 503 answers."""

    api_key: SecretStr | None = Field(None, min_length=1)
    """When set, every ``/v1/*`` request must carry it, as ``Authorization: Bearer <key>`` or
    ``X-API-Key: <key>`` (401 otherwise); health probes and ``/metrics`` stay open."""

    request_timeout_s: float | None = Field(None, gt=0)
    """Longest a ``/v1/*`` request may take: past it the answer is 504 and its sentences are
    taken out of the queue. Unset: no deadline."""

    shutdown_grace_s: float = Field(25.0, ge=0)
    """On SIGTERM, how long accepted requests get to finish (readiness answers 503 and new
    requests are refused meanwhile) before the server stops anyway."""

    metrics_enabled: bool = True
    """Serve ``GET /metrics``; ``false`` serves no metrics at all."""

    metrics_port: int | None = Field(None, ge=0, le=65535)
    """Serve the metrics on this port of ``host`` instead of on the API's port (which then
    has no ``/metrics``); 0 picks a free one. Unset: on the API's port."""

    torch_threads: int = Field(1, ge=1)
    """CPU threads of the model (``torch.set_num_threads``). One by default: its operations
    are too small to gain from more, and the extra threads spin on cores that the server
    needs."""

    model_process: bool = True
    """Run the model in a child process of its own (``bigru-ner serve``, and apps that load
    their model). In a thread of the server process it takes turns with the event loop on the
    GIL, and the server never used more than one core; ``false`` keeps one process."""

    model_workers: int | None = Field(None, ge=1)
    """Model processes of the served model (not of ``/v1/compare``'s forward-only one), each
    computing a batch at once on a core of its own; needs ``model_process``. Each holds a
    copy of the model (about 300 MB of memory with torch). Unset: two on the CPU when this
    process may use at least two CPUs (its affinity and its cgroup's CPU quota), else one;
    one on CUDA, where a batch is not computed by the CPU."""

    model_worker_min_tokens: int = Field(400, ge=0)
    """With ``model_workers`` above 1: while one batch computes, another one goes to a free
    model process only once at least this many tokens wait, else they wait for the busy one
    to finish (small batches cost more per sentence); 0 sends every batch at once. 400: at
    64 and 256 one-sentence connections ahead of 2,000 on a 2-CPU machine, level at 32
    sentences a request (BENCHMARKS.md, "Where the defaults come from")."""

    model_nice: int | None = Field(None, ge=0, le=19)
    """Added to the niceness of the model processes (their scheduling priority, lower for a
    higher number): when more threads want to run than there are CPUs, the server's event
    loop, which every request crosses twice and which refuses what does not fit, gets more of
    them than the model processes; needs ``model_process``. Unset: 5 with model processes (on
    a 2-CPU machine 8% more words/s at 64 one-sentence connections, refusals under overload
    2.0 ms p50 against 7.2, 2% fewer words/s at 32 sentences a request: BENCHMARKS.md, "Where
    the defaults come from"), else 0; 0: the server's priority."""

    model_in_server_tokens: int | None = Field(None, ge=0)
    """A batch of at most this many tokens, sent while its request is the only ``/v1/*`` one in
    progress and no other batch is out (the light load), is tagged by a copy of the served
    model in the server process, on its event loop, instead: it saves the hop to a model
    process and back, which on some machines costs more than tagging one sentence. The copy
    takes about 115 MB more memory; 0: none, every batch goes to a model process. Unset: 64
    on the CPU with ``model_process``; 0 on CUDA (the copy would compute on the CPU) and
    without ``model_process`` (the model is in the server already)."""

    access_log: bool = False
    """Log every request (uvicorn's access log); off by default, ``/metrics`` counts them."""

    log_level: str = "info"
    """uvicorn's log level: critical, error, warning, info, debug or trace."""

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

    @field_validator("model_workers")
    @classmethod
    def _workers_are_processes(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value > 1 and not info.data.get("model_process", True):
            raise ValueError("more than one model worker needs NER_MODEL_PROCESS=true")
        return value

    @field_validator("model_in_server_tokens")
    @classmethod
    def _in_server_beside_processes(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value and not info.data.get("model_process", True):
            raise ValueError("a copy of the model in the server needs NER_MODEL_PROCESS=true")
        if value and str(info.data.get("device", "")).startswith("cuda"):
            raise ValueError("the copy of the model in the server computes on the CPU only")
        return value

    @field_validator("model_nice")
    @classmethod
    def _nice_for_processes(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value and not info.data.get("model_process", True):
            raise ValueError("the model processes' priority needs NER_MODEL_PROCESS=true")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"critical", "error", "warning", "info", "debug", "trace"}:
            raise ValueError(f"{value!r} is not a log level")
        return value

    @property
    def max_wait_s(self) -> float:
        """:attr:`max_wait_ms` in seconds."""
        return self.max_wait_ms / 1000

    @property
    def workers(self) -> int:
        """:attr:`model_workers`, or its default on this machine."""
        if self.model_workers is not None:
            return self.model_workers
        if not (self.model_process and self._on_cpu()):
            return 1
        return min(2, usable_cpus())

    @property
    def in_server_tokens(self) -> int:
        """:attr:`model_in_server_tokens`, or its default on this machine."""
        if self.model_in_server_tokens is not None:
            return self.model_in_server_tokens
        return IN_SERVER_TOKENS if self.model_process and self._on_cpu() else 0

    @property
    def nice(self) -> int:
        """:attr:`model_nice`, or its default."""
        if self.model_nice is not None:
            return self.model_nice
        return MODEL_NICE if self.model_process else 0

    def _on_cpu(self) -> bool:
        """Whether the model computes on the CPU (``auto``: when CUDA is not available)."""
        if self.device == "auto":
            import torch

            return not torch.cuda.is_available()
        return self.device == "cpu"

    def model_settings(self) -> list[ModelSettings]:
        """The models to serve: ``model`` (:data:`TAG`) and, unless comparing is off,
        ``forward_model`` (:data:`FORWARD`)."""
        models = [(TAG, self.model, "model")]
        if self.forward_model is not None:
            models.append((FORWARD, self.forward_model, "forward_model"))
        return [
            ModelSettings(
                role,
                path,
                env_name(field),
                self.device,
                self.torch_threads,
                self.model_process,
                self.workers if role == TAG else 1,
                self.in_server_tokens if role == TAG else 0,
                self.nice,
            )
            for role, path, field in models
        ]

    def call_cost_on(self, device_type: str) -> int | None:
        """:attr:`call_cost_tokens`, or its default on a device of this type (None: never cut
        a batch)."""
        if self.call_cost_tokens is not None:
            return self.call_cost_tokens
        return CPU_CALL_COST_TOKENS if device_type == "cpu" else None


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

    Raises :class:`SettingsError` naming every bad variable, instead of pydantic's error.
    """
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"]) or "settings"
            message = problem["msg"].removeprefix("Value error, ")
            lines.append(f"{env_name(field)}: {message} (got {_shown(problem.get('input'))})")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def _shown(value: Any) -> str:
    return repr(str(value)) if isinstance(value, Path) else repr(value)
