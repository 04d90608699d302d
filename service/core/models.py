"""Loading the served models (:class:`service.core.service.ServedModel`, by role).

:func:`load_backends` loads the models of the per-model settings side by side, and
:func:`serving` starts a batcher in front of each and records their figures (batches, compute
time, restarts) in the app's metrics. ``/v1/compare``'s forward-only model is one more entry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AsyncExitStack, asynccontextmanager

from model.artifact import ArtifactError
from service.core.backend import Backend, InProcessBackend
from service.core.batching import Batcher
from service.core.pending import InLoop, Predict
from service.core.pool import BackendPool
from service.core.process import ChildProcessBackend
from service.core.service import ServedModel
from service.metrics import Metrics
from service.settings import FORWARD, TAG, ModelSettings, Settings

log = logging.getLogger(__name__)


def load_backend(spec: ModelSettings) -> Backend:
    """Load ``spec.path`` on ``spec.device``, in a child process unless ``spec.child_process``
    is off; raises ``ArtifactError`` naming ``spec.variable`` if the model is bad, or reads
    both ways where it must read forward only."""
    try:
        backend: Backend
        if spec.child_process and (spec.workers > 1 or spec.in_server_tokens > 0):
            # The copy in the server computes on the CPU: this process never touches CUDA.
            in_server = (lambda: _in_process(spec, "cpu")) if spec.in_server_tokens > 0 else None
            backend = BackendPool.start(
                spec.workers, lambda: _child(spec), in_server, spec.in_server_tokens
            )
        elif spec.child_process:
            backend = _child(spec)
        else:
            backend = _in_process(spec, spec.device)
    except ArtifactError as error:
        raise ArtifactError(f"{spec.variable}: {error}") from error
    try:
        check_direction(spec.role, backend)
    except ArtifactError:
        backend.close()
        raise
    return backend


def _child(spec: ModelSettings) -> ChildProcessBackend:
    return ChildProcessBackend.start(spec.path, spec.device, spec.torch_threads, spec.nice)


def _in_process(spec: ModelSettings, device: str) -> InProcessBackend:
    from model.device import resolve_device
    from model.tagger import Tagger

    return InProcessBackend(Tagger.load(spec.path, resolve_device(device)))


def check_direction(role: str, backend: Backend) -> None:
    """Raise ``ArtifactError`` if the forward-only model reads both ways: set against the
    BiGRU, it would show nothing about backward context."""
    if role == FORWARD and backend.info.bidirectional:
        name = backend.info.name
        raise ArtifactError(f"NER_FORWARD_MODEL: {name} is bidirectional, not forward-only")


def close_all(backends: Iterable[Backend]) -> None:
    """Close the backends side by side: a model process takes seconds to stop."""
    with ThreadPoolExecutor(thread_name_prefix="ner-close") as pool:
        for closing in [pool.submit(backend.close) for backend in backends]:
            closing.result()


def load_backends(specs: Sequence[ModelSettings]) -> dict[str, Backend]:
    """Each model loaded, side by side (each child process starts on its own), by role. If
    any fails, the others are closed and the first failure (in ``specs`` order) is raised."""
    with ThreadPoolExecutor(max_workers=max(1, len(specs)), thread_name_prefix="ner-load") as pool:
        futures = [pool.submit(load_backend, spec) for spec in specs]
        wait(futures)
    errors = [error for f in futures if (error := f.exception()) is not None]
    if errors:
        close_all(future.result() for future in futures if future.exception() is None)
        raise errors[0]
    return {spec.role: future.result() for spec, future in zip(specs, futures, strict=True)}


@asynccontextmanager
async def serving(
    settings: Settings,
    metrics: Metrics,
    given: Mapping[str, Backend],
    roles: Sequence[str],
    light_load: Callable[[], bool] = lambda: True,
) -> AsyncIterator[dict[str, ServedModel]]:
    """The models of ``roles`` with their batchers started: those in ``given`` as they are
    (left to the caller to close), the others loaded here and closed at the end. The model
    of :data:`TAG` is what ``ner_model_info`` names and what the devices' figures are about.
    ``light_load``: when the copy of the model in the server may tag a batch (a pool's
    ``in_server``, :class:`service.core.pending.InLoop`)."""
    specs = [spec for spec in settings.model_settings() if spec.role not in given]
    loaded = await asyncio.to_thread(load_backends, [s for s in specs if s.role in roles])
    try:
        backends = {**given, **loaded}
        for role, backend in backends.items():
            check_direction(role, backend)
        async with AsyncExitStack() as batchers:
            served = {}
            for role in roles:
                backend = backends[role]
                backend.on_restart = metrics.restart_counter(backend.info.name)
                batcher = _batcher(settings, metrics, backend, light_load)
                await batcher.start()
                # On the way out: readiness turns 503 at once; accepted sentences finish first.
                batchers.push_async_callback(batcher.stop)
                workers = backend.members if isinstance(backend, BackendPool) else ()
                served[role] = ServedModel(backend, batcher, workers)
            _announce(metrics, served)
            yield served
    finally:
        close_all(loaded.values())


def _batcher(
    settings: Settings, metrics: Metrics, backend: Backend, light_load: Callable[[], bool]
) -> Batcher:
    predict: Predict | list[Predict] = backend.tag_sentences
    synchronize, in_loop = backend.synchronize, None
    if isinstance(backend, BackendPool):  # the batcher picks the free model process itself
        predict = [member.tag_sentences for member in backend.members]
        # Nothing to wait for, as for any model process (its answer comes once the tags are
        # on the host); the members' own, so that no code of the pool's runs for a batch.
        synchronize = backend.members[0].synchronize
        if backend.in_server is not None:
            copy = backend.in_server.tag_sentences
            in_loop = InLoop(copy, backend.in_server_tokens, light_load)
    return Batcher(
        predict,
        max_batch_size=settings.max_batch_size,
        max_batch_tokens=settings.max_batch_tokens,
        max_wait=settings.max_wait_s,
        max_queue=settings.max_queue,
        call_cost_tokens=settings.call_cost_on(backend.info.device.split(":")[0]),
        spill_tokens=settings.model_worker_min_tokens,
        in_loop=in_loop,
        synchronize=synchronize,
        on_batch=metrics.observe_batch,
    )


def _announce(metrics: Metrics, served: Mapping[str, ServedModel]) -> None:
    info = served[TAG].backend.info
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
        log.info("comparing it with %s", served[FORWARD].backend.info.name)
