"""Loading the served models, and serving them (:class:`service.core.service.Model`, by
name).

:func:`load_workers` loads a model's copies side by side (its model processes, or the model
in this process, and the copy in the server); :func:`load_all` loads every model that the
settings name, each at the first of its versions that loads (a repository's highest), side by
side. :func:`serving` puts a batcher in front of each and records their figures (batches,
compute time, restarts) in the app's metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from model.artifact import ArtifactError
from service.core.backend import Backend, InProcessBackend
from service.core.batching import Batcher
from service.core.process import ChildProcessBackend
from service.core.service import FAILED, READY, Model, ServedModel
from service.core.workers import Workers
from service.metrics import Metrics
from service.settings import ModelSettings, Settings

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Load:
    """What loading the model ``name`` came to: its workers, or why none (``reason``); the
    ``variable`` that named it, its version, its twin's name and whether it is a twin."""

    name: str
    workers: Workers | None
    variable: str = ""
    version: int | None = None
    twin: str | None = None
    forward_only: bool = False
    reason: str | None = None


def load_workers(spec: ModelSettings) -> Workers:
    """Load ``spec.path``: in ``spec.processes`` model processes (none: in this process), with
    a copy in this process when ``spec.copy_tokens``; raises ``ArtifactError`` naming
    ``spec.variable`` if the model is bad, or reads both ways where it must read forward.
    The workers are named ``spec.name``."""
    starts: list[Callable[[], Backend]] = [lambda: _in_process(spec, spec.device)]
    if spec.processes:
        starts = [lambda: _child(spec)] * spec.processes
    if spec.copy_tokens:  # the copy computes on the CPU: this process never touches CUDA
        starts.append(lambda: _in_process(spec, "cpu"))
    try:
        backends = _side_by_side(starts, _close_each)
    except ArtifactError as error:
        raise ArtifactError(f"{spec.variable}: {error}") from error
    copy = backends.pop() if spec.copy_tokens else None
    workers = Workers(
        backends, copy=copy, copy_tokens=spec.copy_tokens, spill_tokens=spec.spill_tokens
    )
    workers.info = dataclasses.replace(workers.info, name=spec.name)
    try:
        check_direction(spec.forward_only, spec.variable, workers)
    except ArtifactError:
        close(workers)
        raise
    return workers


def _child(spec: ModelSettings) -> ChildProcessBackend:
    return ChildProcessBackend.start(
        spec.path, spec.device, spec.torch_threads, spec.nice, spec.call_cost
    )


def _in_process(spec: ModelSettings, device: str) -> InProcessBackend:
    from model.device import resolve_device
    from model.tagger import Tagger

    return InProcessBackend(Tagger.load(spec.path, resolve_device(device), spec.call_cost))


def _side_by_side(
    starts: Sequence[Callable[[], _T]], close_made: Callable[[list[_T]], None]
) -> list[_T]:
    """Each of ``starts`` called in a thread of its own (a model process takes seconds to
    start); if any fails, what the others made is closed and the first failure raised."""
    with ThreadPoolExecutor(max_workers=max(1, len(starts)), thread_name_prefix="ner-load") as p:
        futures = [p.submit(start) for start in starts]
        wait(futures)
    errors = [error for f in futures if (error := f.exception()) is not None]
    if errors:
        made = [f.result() for f in futures if f.exception() is None]
        close_made(made)
        raise errors[0]
    return [f.result() for f in futures]


def check_direction(forward_only: bool, variable: str, workers: Workers) -> None:
    """Raise ``ArtifactError`` if a forward-only twin reads both ways: set against the
    BiGRU, it would show nothing about backward context."""
    if forward_only and workers.info.bidirectional:
        name = workers.info.name
        raise ArtifactError(f"{variable}: {name} is bidirectional, not forward-only")


def _close_each(backends: Iterable[Backend]) -> None:
    with ThreadPoolExecutor(thread_name_prefix="ner-close") as pool:
        for closing in [pool.submit(backend.close) for backend in backends]:
            closing.result()


def close(*loaded: Workers) -> None:
    """Close the models' copies side by side (a model process takes seconds to stop)."""
    _close_each([b for w in loaded for b in [*w.backends, *([w.copy] if w.copy else [])]])


def load_model(candidates: Sequence[ModelSettings]) -> Load:
    """One model at the first of ``candidates`` (its versions, highest first) that loads;
    if none does, why each did not."""
    failures = []
    for spec in candidates:
        try:
            workers = load_workers(spec)
        except Exception as error:  # a bad version is refused, whatever its fault
            log.error("%s: not loaded: %s", spec.variable, error)
            failures.append(str(error))
            continue
        version, twin = spec.version, spec.twin
        return Load(spec.name, workers, spec.variable, version, twin, spec.forward_only)
    first = candidates[0]
    reason = "; ".join(failures)
    return Load(first.name, None, first.variable, None, first.twin, first.forward_only, reason)


def load_all(
    specs: Sequence[ModelSettings], required: Iterable[str] = (), most: int | None = None
) -> dict[str, Load]:
    """Each model of ``specs`` loaded side by side (:func:`load_model`), at most ``most`` of
    them (``required`` first, then by name; the others fail). If a ``required`` model does not
    load, the others are closed and its error raised as ``ArtifactError``."""
    candidates: dict[str, list[ModelSettings]] = {}
    for spec in specs:
        candidates.setdefault(spec.name, []).append(spec)
    required = [name for name in required if name in candidates]
    order = required + sorted(set(candidates) - set(required))
    loading, skipped = order[:most], order[most:] if most is not None else []
    starts = [lambda name=name: load_model(candidates[name]) for name in loading]
    loads = _side_by_side(starts, lambda made: close(*_workers(made)))
    failed = [load for load in loads if load.name in required and load.workers is None]
    if failed:
        close(*_workers(loads))
        raise ArtifactError(failed[0].reason or f"{failed[0].name} did not load")
    reason = f"NER_MAX_MODELS: {most} models are loaded already"
    for name in skipped:
        first = candidates[name][0]
        loads.append(Load(name, None, first.variable, twin=first.twin, reason=reason))
    return {load.name: load for load in loads}


def _workers(loads: Iterable[Load]) -> list[Workers]:
    return [load.workers for load in loads if load.workers is not None]


def required(settings: Settings, specs: Sequence[ModelSettings]) -> list[str]:
    """The models without which the server does not start: the default (and, without a
    repository, the forward-only model of ``/v1/compare`` as well)."""
    if settings.model_repository is None:
        return [spec.name for spec in specs]
    default = settings.default_name(sorted({spec.name for spec in specs}))
    return [default] if default is not None else []


def load_settings_models(settings: Settings, skip: Iterable[str] = ()) -> dict[str, Load]:
    """The models that ``settings`` name, less the variables or names in ``skip``; raises
    ``ArtifactError`` when one that the server needs does not load."""
    skipped = set(skip)
    specs = [s for s in settings.model_settings() if not {s.name, s.variable} & skipped]
    most = settings.max_models if settings.model_repository is not None else None
    return load_all(specs, required(settings, specs), most)


@asynccontextmanager
async def serving(
    settings: Settings,
    metrics: Metrics,
    given: Mapping[str, Load],
    light_load: Callable[[], bool],
) -> AsyncIterator[tuple[dict[str, Model], str | None]]:
    """Every model of the settings with its batcher started, and the default's name: those
    in ``given`` as they are (left to the caller to close; one given for ``NER_MODEL`` or
    ``NER_FORWARD_MODEL`` stands in for it), the others loaded here and closed at the end.
    ``light_load``: when the copy of a model in the server may tag a batch."""
    skip = {*given, *(load.variable for load in given.values())}
    loaded = await asyncio.to_thread(load_settings_models, settings, skip)
    try:
        for load in given.values():  # the loaded ones were checked as they loaded
            if load.workers is not None:
                check_direction(load.forward_only, load.variable, load.workers)
        loads = {**given, **loaded}
        stand_in = [name for name, load in given.items() if load.variable == "NER_MODEL"]
        default = stand_in[0] if stand_in else settings.default_name(sorted(loads))
        async with AsyncExitStack() as batchers:
            models = {}
            for name, load in loads.items():
                model = Model(name, load.version, load.twin, FAILED, load.reason)
                if load.workers is not None:
                    workers = load.workers
                    workers.on_restart = metrics.restart_counter(name)
                    workers.light_load = light_load
                    workers.start()
                    batchers.callback(workers.stop)
                    batcher = _batcher(settings, metrics, workers)
                    await batcher.start()
                    # On the way out: readiness turns 503 at once; accepted sentences finish.
                    batchers.push_async_callback(batcher.stop)
                    model.served, model.state = ServedModel(workers, batcher), READY
                models[name] = model
            _announce(metrics, models, default)
            yield models, default
    finally:
        close(*_workers(loaded.values()))


def _batcher(settings: Settings, metrics: Metrics, workers: Workers) -> Batcher:
    tuning = settings.tuning
    return Batcher(
        workers,
        max_batch_size=tuning.max_batch_size,
        max_batch_tokens=tuning.max_batch_tokens,
        max_wait=tuning.max_wait_ms / 1000,
        max_queue=settings.max_queue,
        on_batch=metrics.observe_batch,
    )


def _announce(metrics: Metrics, models: Mapping[str, Model], default: str | None) -> None:
    served = {name: m.served for name, m in models.items() if m.served is not None}
    for name, model in served.items():
        info, version = model.workers.info, models[name].version
        shown = "" if version is None else str(version)
        metrics.serving(name, shown, info.device, info.bidirectional)
        log.info("serving %s (version %s) on %s", name, shown or "-", info.device)
    # The fullest queue is the one that refuses requests first: what the alerts watch.
    batchers = [model.batcher for model in served.values()]
    metrics.watch_queues(lambda: max((batcher.depth for batcher in batchers), default=0))
    compared = [m for name, m in served.items() if models[name].twin in served]
    if compared:
        metrics.comparing(sorted({label for m in compared for label in m.workers.info.labels}))
    for failed in models.values():
        if failed.state == FAILED:
            log.error("model %s failed: %s", failed.name, failed.reason)
    if default is not None:
        log.info("the default model is %s", default)
