"""Keeping the served models in step with the repository while the server runs
(:class:`Reloader`): new versions served without downtime, versions that fail refused,
removed versions rolled back, models added and removed.

A new version loads beside the one serving and passes the same checks as at start-up (the
artifact's own, then a test sentence through each copy); then it takes the new requests,
the requests that hold the old one finish on it, and the old one's batcher and processes
stop. A version that fails is refused until its files change: the old one serves on, and
``GET /v1/models``, the log and ``ner_model_loads_total`` say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from service.core.errors import ServiceError
from service.core.loading import load_model
from service.core.models import FAILED, LOADING, READY, Model, announce, start, stop
from service.core.repository import Entry, RepositoryError, fingerprint, scan
from service.core.service import ServedModel, Service
from service.runs import repository_runs

log = logging.getLogger(__name__)
#: How often a replaced version looks whether the requests that hold it have finished.
_HOLD_POLL_S = 0.05


@asynccontextmanager
async def reloading(service: Service) -> AsyncIterator[None]:
    """With a repository, a :class:`Reloader` at work on ``service`` (and behind
    ``POST /v1/models/{name}/load``) until the end; without one, nothing."""
    if service.settings.model_repository is None:
        yield
        return
    reloader = Reloader(service)
    await reloader.start()
    service.load = reloader.load
    try:
        yield
    finally:
        service.load = None
        await reloader.close()


class Reloader:
    """Brings the models of ``service`` in step with its repository: every
    ``NER_MODEL_POLL_S`` seconds (:meth:`start`), and for one model on demand (:meth:`load`).
    One change at a time."""

    def __init__(self, service: Service) -> None:
        assert service.settings.model_repository is not None
        self.service = service
        self.root = service.settings.model_repository
        self._lock = asyncio.Lock()
        #: Versions refused, by (model, version): what their directory held then.
        self._refused: dict[tuple[str, int], tuple[tuple[str, int, int], ...]] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Remember the versions refused at start-up (above the one serving, or all of a model
        that failed), then look at the repository every ``NER_MODEL_POLL_S`` seconds."""
        entries = await asyncio.to_thread(scan, self.root)
        for name, model in self.service.models.items():
            if name in entries:
                for version in entries[name].versions:
                    if model.version is None or version > model.version:
                        await self._refuse(entries[name], version)
        if self.service.settings.model_poll_s > 0:
            self._task = asyncio.create_task(self._poll(), name="ner-repository")

    async def close(self) -> None:
        """Stop looking (a change under way completes first), and wait for the replaced
        versions to stop."""
        self._wake.set()
        if self._task is not None:
            await self._task
        async with self._lock:
            pass
        await asyncio.gather(*self._retiring)

    async def _poll(self) -> None:
        while not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.service.settings.model_poll_s)
            if self._wake.is_set():
                return
            try:
                await self.sync()
            except RepositoryError as error:
                log.error("the model repository cannot be read: %s", error)
            except Exception:  # the next look may do better; the models serve on meanwhile
                log.exception("bringing the models in step with the repository failed")

    async def sync(self) -> None:
        """Every model in step with the repository."""
        async with self._lock:
            entries = await asyncio.to_thread(scan, self.root)
            for name in sorted(set(entries) | set(self.service.models)):
                if not self.service.draining:
                    await self._bring(name, entries)

    async def load(self, name: str) -> Model:
        """The model ``name`` in step with the repository now, its refused versions tried
        again: ``model_not_found`` if neither the server nor the repository has it,
        ``model_refused`` with the reasons if a version was refused. Runs to its end even if
        the caller is cancelled (a request past its deadline): what it loads is served or
        closed, never lost."""
        return await asyncio.shield(asyncio.create_task(self._load(name)))

    async def _load(self, name: str) -> Model:
        async with self._lock:
            try:
                entries = await asyncio.to_thread(scan, self.root)
            except RepositoryError as error:
                raise ServiceError("repository_unreadable", str(error)) from None
            if name not in entries and name not in self.service.models:
                listed = ", ".join(sorted(entries))
                raise ServiceError(
                    "model_not_found", f"no model {name!r} in the repository; it has: {listed}"
                )
            for key in [key for key in self._refused if key[0] == name]:
                del self._refused[key]
            refusals = await self._bring(name, entries)
            model = self.service.models.get(name)
            if refusals:
                raise ServiceError("model_refused", "; ".join(refusals))
            if model is None:
                raise ServiceError("model_not_found", f"{name!r} was removed from the repository")
            return model

    async def _bring(self, name: str, entries: Mapping[str, Entry]) -> list[str]:
        """The model ``name`` in step with the repository's ``entries`` (a scan); why each
        version that it tried was refused."""
        service = self.service
        current, entry = service.models.get(name), entries.get(name)
        if entry is None:
            if current is not None:
                self._remove(current)
            return []
        if current is not None:
            current.twin = entry.twin
        serving = current.version if current is not None and current.served else None
        versions = [v for v in entry.versions if serving not in entry.versions or v > serving]
        versions = await asyncio.to_thread(self._untried, entry, versions)
        if not versions:
            return []
        if serving is None and len(service.served) >= service.settings.max_models:
            reason = f"NER_MAX_MODELS: {service.settings.max_models} models are loaded already"
            service.models[name] = Model(name, None, entry.twin, FAILED, reason)
            return [reason]
        if serving is None:  # listed as loading meanwhile; requests for it get 503
            service.models[name] = Model(name, None, entry.twin, LOADING)
        runs = repository_runs(service.settings, entries)
        specs = {spec.version: spec for spec in runs if spec.name == name}
        reasons: list[str] = []
        for version in versions:
            load = await asyncio.to_thread(load_model, [specs[version]])
            service.metrics.observe_load(name, refused=load.workers is None)
            if load.workers is not None:
                served = await start(service, name, load.workers)
                self._swap(Model(name, version, entry.twin, READY, None, served), current)
                return reasons
            await self._refuse(entry, version)
            reasons.append(f"version {version} refused: {load.reason}")
        reason = "; ".join(reasons)
        if current is None or current.served is None:
            service.models[name] = Model(name, None, entry.twin, FAILED, reason)
        else:
            current.reason = f"{reason}; version {current.version} serves on"
        return reasons

    def _swap(self, model: Model, current: Model | None) -> None:
        """``model`` takes the new requests; ``current``'s version stops once free."""
        if current is not None and current.served is not None:
            self._stop_serving(current)
        self.service.models[model.name] = model
        announce(self.service.metrics, model)
        was = f" (was version {current.version})" if current and current.served else ""
        log.info("model %s: version %s serves now%s", model.name, model.version, was)

    def _remove(self, model: Model) -> None:
        if model.name == self.service.default:
            model.reason = "removed from the repository; as the default model it serves on"
            log.error("model %s: %s", model.name, model.reason)
            return
        del self.service.models[model.name]
        if model.served is not None:
            self._stop_serving(model)
        log.info("model %s: removed from the repository, no longer served", model.name)

    def _stop_serving(self, model: Model) -> None:
        served = model.served
        assert served is not None
        info = served.workers.info
        self.service.metrics.not_serving(model.name, model.version, info.device, info.bidirectional)
        task = asyncio.create_task(_stop_when_free(served), name=f"ner-retire-{model.name}")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    # The fingerprints read the repository, in a thread like the scans: on a network volume a
    # look at every file of a version would hold up the event loop and every request with it.
    async def _refuse(self, entry: Entry, version: int) -> None:
        files = await asyncio.to_thread(fingerprint, entry.path(version))
        self._refused[entry.name, version] = files

    def _untried(self, entry: Entry, versions: list[int]) -> list[int]:
        """``versions`` less those refused whose files have not changed since (run in a
        thread, under the lock: nothing changes ``_refused`` meanwhile)."""
        return [v for v in versions if not self._was_refused(entry, v)]

    def _was_refused(self, entry: Entry, version: int) -> bool:
        refused = self._refused.get((entry.name, version))
        return refused is not None and refused == fingerprint(entry.path(version))


async def _stop_when_free(served: ServedModel) -> None:
    """Stop ``served`` once no request holds it (they finish on it)."""
    while served.holders:
        await asyncio.sleep(_HOLD_POLL_S)
    await stop(served)
