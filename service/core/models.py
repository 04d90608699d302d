"""Loading the served models, and serving them (:class:`service.core.service.ServedModel`, by
role).

:func:`load_workers` loads each model's copies side by side (its model processes, or the
model in this process, and the copy in the server), and :func:`serving` puts a batcher in
front of each and records their figures (batches, compute time, restarts) in the app's
metrics. ``/v1/compare``'s forward-only model is one more entry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar

from model.artifact import ArtifactError
from service.core.backend import Backend, InProcessBackend
from service.core.batching import Batcher
from service.core.process import ChildProcessBackend
from service.core.service import ServedModel
from service.core.workers import Workers
from service.metrics import Metrics
from service.settings import FORWARD, TAG, ModelSettings, Settings

log = logging.getLogger(__name__)
_T = TypeVar("_T")


def load_workers(spec: ModelSettings) -> Workers:
    """Load ``spec.path``: in ``spec.processes`` model processes (none: in this process), with
    a copy in this process when ``spec.copy_tokens``; raises ``ArtifactError`` naming
    ``spec.variable`` if the model is bad, or reads both ways where it must read forward."""
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
    try:
        check_direction(spec.role, workers)
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


def check_direction(role: str, workers: Workers) -> None:
    """Raise ``ArtifactError`` if the forward-only model reads both ways: set against the
    BiGRU, it would show nothing about backward context."""
    if role == FORWARD and workers.info.bidirectional:
        name = workers.info.name
        raise ArtifactError(f"NER_FORWARD_MODEL: {name} is bidirectional, not forward-only")


def _close_each(backends: Iterable[Backend]) -> None:
    with ThreadPoolExecutor(thread_name_prefix="ner-close") as pool:
        for closing in [pool.submit(backend.close) for backend in backends]:
            closing.result()


def close(*loaded: Workers) -> None:
    """Close the models' copies side by side (a model process takes seconds to stop)."""
    _close_each([b for w in loaded for b in [*w.backends, *([w.copy] if w.copy else [])]])


def load_all(specs: Sequence[ModelSettings]) -> dict[str, Workers]:
    """Each model loaded side by side, by role; if any fails, the others are closed and the
    first failure (in ``specs`` order) is raised."""
    starts = [lambda spec=spec: load_workers(spec) for spec in specs]
    loaded = _side_by_side(starts, lambda made: close(*made))
    return {spec.role: workers for spec, workers in zip(specs, loaded, strict=True)}


@asynccontextmanager
async def serving(
    settings: Settings,
    metrics: Metrics,
    given: Mapping[str, Workers],
    roles: Sequence[str],
    light_load: Callable[[], bool],
) -> AsyncIterator[dict[str, ServedModel]]:
    """The models of ``roles`` with their batchers started: those in ``given`` as they are
    (left to the caller to close), the others loaded here and closed at the end. The model
    of :data:`TAG` is what ``ner_model_info`` names and what the devices' figures are about.
    ``light_load``: when the copy of the model in the server may tag a batch."""
    specs = [s for s in settings.model_settings() if s.role in roles and s.role not in given]
    loaded = await asyncio.to_thread(load_all, specs)
    try:
        for role, workers in given.items():  # the loaded ones were checked as they loaded
            check_direction(role, workers)
        models = {**given, **loaded}
        async with AsyncExitStack() as batchers:
            served = {}
            for role in roles:
                workers = models[role]
                workers.on_restart = metrics.restart_counter(workers.info.name)
                workers.light_load = light_load
                workers.start()
                batchers.callback(workers.stop)
                batcher = _batcher(settings, metrics, workers)
                await batcher.start()
                # On the way out: readiness turns 503 at once; accepted sentences finish first.
                batchers.push_async_callback(batcher.stop)
                served[role] = ServedModel(workers, batcher)
            _announce(metrics, served)
            yield served
    finally:
        close(*loaded.values())


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


def _announce(metrics: Metrics, served: Mapping[str, ServedModel]) -> None:
    info = served[TAG].workers.info
    # The fuller queue is the one that refuses requests first: what the alerts watch.
    metrics.serving(
        info.name,
        info.device,
        info.bidirectional,
        lambda: max(s.batcher.depth for s in served.values()),
    )
    log.info("serving %s on %s", info.name, info.device)
    if FORWARD in served:
        metrics.comparing(info.labels)
        log.info("comparing it with %s", served[FORWARD].workers.info.name)
