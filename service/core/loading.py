"""Loading the served models: :func:`load_workers` loads a model's copies side by side (its
model processes, or the model in this process, and the copy in the server) and checks them;
:func:`load_all` loads every model that the settings name, each at the first of its versions
that loads and passes the checks (a repository's highest), side by side.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

from model.artifact import ArtifactError
from service.core.backend import Backend, InProcessBackend
from service.core.process import ChildProcessBackend
from service.core.workers import Workers
from service.runs import ModelSettings, default_name, model_runs
from service.settings import Settings

log = logging.getLogger(__name__)
_T = TypeVar("_T")
#: What every model tags before it serves (:func:`check_answers`).
TEST_SENTENCE = ("Ada", "Lovelace", "wrote", "to", "Charles", "Babbage", "from", "London", ".")


@dataclass(frozen=True, slots=True)
class Load:
    """What loading the model ``name`` came to: its workers, or why none (``reason``); the
    ``variable`` that named it, its version, its twin's name and whether it is a twin; how
    many of its versions were ``refused`` on the way."""

    name: str
    workers: Workers | None
    variable: str = ""
    version: int | None = None
    twin: str | None = None
    forward_only: bool = False
    reason: str | None = None
    refused: int = 0


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
        check_answers(spec.variable, workers)
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


def check_answers(variable: str, workers: Workers) -> None:
    """Raise ``ArtifactError`` unless each copy of the model tags :data:`TEST_SENTENCE` with a
    tag of its own labels and a probability per token: what a model passes before it
    serves."""
    labels = set(workers.info.labels)
    for backend in [*workers.backends, *([workers.copy] if workers.copy else [])]:
        try:
            (prediction,) = backend.tag_sentences([TEST_SENTENCE])
        except Exception as error:  # whatever the fault, the model does not serve
            raise ArtifactError(f"{variable}: failed on the test sentence: {error!r}") from error
        tags, scores = prediction
        if len(tags) != len(TEST_SENTENCE) or len(scores) != len(tags):
            raise ArtifactError(
                f"{variable}: {len(tags)} tags for the test sentence's {len(TEST_SENTENCE)} words"
            )
        if wrong := [t for t in tags if t != "O" and t[2:] not in labels]:
            raise ArtifactError(f"{variable}: tags outside its labels {sorted(labels)}: {wrong}")
        if not all(0.0 <= score <= 1.0 for score in scores):
            raise ArtifactError(f"{variable}: probabilities outside [0, 1]: {scores}")


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
        refused = len(failures)
        return Load(
            spec.name, workers, spec.variable, version, twin, spec.forward_only, None, refused
        )
    first = candidates[0]
    reason = "; ".join(failures)
    forward_only, refused = first.forward_only, len(failures)
    return Load(first.name, None, first.variable, None, first.twin, forward_only, reason, refused)


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
    loads = _side_by_side(starts, lambda made: close(*workers_of(made)))
    failed = [load for load in loads if load.name in required and load.workers is None]
    if failed:
        close(*workers_of(loads))
        raise ArtifactError(failed[0].reason or f"{failed[0].name} did not load")
    reason = f"NER_MAX_MODELS: {most} models are loaded already"
    for name in skipped:
        first = candidates[name][0]
        loads.append(Load(name, None, first.variable, twin=first.twin, reason=reason))
    return {load.name: load for load in loads}


def workers_of(loads: Iterable[Load]) -> list[Workers]:
    """The workers of the loads that loaded."""
    return [load.workers for load in loads if load.workers is not None]


def required(settings: Settings, specs: Sequence[ModelSettings]) -> list[str]:
    """The models without which the server does not start: the default (and, without a
    repository, the forward-only model of ``/v1/compare`` as well)."""
    if settings.model_repository is None:
        return [spec.name for spec in specs]
    default = default_name(settings, sorted({spec.name for spec in specs}))
    return [default] if default is not None else []


def load_settings_models(settings: Settings, skip: Iterable[str] = ()) -> dict[str, Load]:
    """The models that ``settings`` name, less the variables or names in ``skip``; raises
    ``ArtifactError`` when one that the server needs does not load."""
    skipped = set(skip)
    specs = [s for s in model_runs(settings) if not {s.name, s.variable} & skipped]
    most = settings.max_models if settings.model_repository is not None else None
    return load_all(specs, required(settings, specs), most)
