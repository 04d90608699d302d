"""How each served model runs (:class:`ModelSettings`), derived from the settings: which
models there are (``NER_MODEL`` and its twin, or a repository's), their processes, copies
and threads on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from model.bundled import DEFAULT_MODEL
from service.core.repository import Entry, scan
from service.settings import Settings


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """How one served model is loaded and run: its ``name`` (what requests, ``/v1/models`` and
    the metrics call it), its artifact directory ``path``, the ``variable`` that names it
    (quoted by errors about it) and its repository ``version`` if it has one; ``twin``, the
    name of the forward-only model that ``/v1/compare`` sets against it, and ``forward_only``
    when it is such a twin itself; ``device`` and ``torch_threads``; ``processes``, its model
    processes (0: it runs in the server process); ``copy_tokens``, the largest batch that a
    copy of the model in the server tags under light load; ``nice``, added to the model
    processes' niceness; ``spill_tokens``, the tokens that must wait before a second batch
    goes out while one computes; ``call_cost``, one model call's cost in padded tokens (None:
    never cut)."""

    name: str
    path: Path
    variable: str

    device: str
    torch_threads: int
    processes: int
    copy_tokens: int = 0
    nice: int = 0
    spill_tokens: int = 0
    call_cost: int | None = None
    version: int | None = None
    twin: str | None = None
    forward_only: bool = False


def model_runs(settings: Settings) -> list[ModelSettings]:
    """What to load: ``NER_MODEL`` and, unless comparing is off, ``NER_FORWARD_MODEL`` as its
    twin; with a repository, every version of each of its models, highest first (the first
    that loads serves). Raises ``RepositoryError`` for a repository it cannot read."""
    if settings.model_repository is None:
        forward = settings.forward_model
        twin = forward.name if forward is not None else None
        specs = [_run(settings, settings.model.name, settings.model, "NER_MODEL", twin=twin)]
        if forward is not None:
            variable = "NER_FORWARD_MODEL"
            specs.append(_run(settings, twin or "", forward, variable, forward_only=True))
        return specs
    return repository_runs(settings, scan(settings.model_repository))


def repository_runs(settings: Settings, entries: Mapping[str, Entry]) -> list[ModelSettings]:
    """Every version of each model of ``entries`` (a scan of the repository), highest first;
    a model that some model names as its twin runs as a forward-only twin."""
    twins = {entry.twin for entry in entries.values()}
    return [
        _run(
            settings,
            name,
            entry.path(version),
            f"NER_MODEL_REPOSITORY ({name}/{version})",
            version=version,
            twin=entry.twin,
            forward_only=name in twins,
        )
        for name, entry in entries.items()
        for version in entry.versions
    ]


def default_name(settings: Settings, names: Sequence[str]) -> str | None:
    """The model of requests that name none, among the ``names`` served."""
    if settings.model_repository is None:
        return settings.model.name
    if settings.default_model is not None:
        return settings.default_model
    return DEFAULT_MODEL.name if DEFAULT_MODEL.name in names else min(names, default=None)


def _run(
    settings: Settings,
    name: str,
    path: Path,
    variable: str,
    *,
    version: int | None = None,
    twin: str | None = None,
    forward_only: bool = False,
) -> ModelSettings:
    """How the model at ``path`` runs; a forward-only twin in one process and no copy."""
    on_cpu = _on_cpu(settings.device)
    processes = settings.model_workers
    if processes is None:
        processes = min(2, usable_cpus()) if on_cpu else 1
    t = settings.tuning
    copy = t.model_in_server_tokens
    if copy is None:
        copy = 64 if processes and on_cpu else 0
    nice = t.model_nice if t.model_nice is not None else (5 if processes else 0)
    call_cost = t.call_cost_tokens
    if call_cost is None and on_cpu:
        call_cost = 1000
    if forward_only:
        processes, copy = min(processes, 1), 0
    return ModelSettings(
        name,
        path,
        variable,
        settings.device,
        t.torch_threads,
        processes,
        copy,
        nice,
        t.model_worker_min_tokens,
        call_cost,
        version,
        twin,
        forward_only,
    )


def _on_cpu(device: str) -> bool:
    """Whether the model computes on the CPU (``auto``: when CUDA is not available)."""
    if device == "auto":
        import torch

        return not torch.cuda.is_available()
    return device == "cpu"


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
