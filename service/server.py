"""``bigru-ner serve``: one uvicorn process with its models on one device.

Scale out with replicas (one per device), not with workers that would each hold a copy of
the model and batch separately.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
from collections.abc import Mapping
from types import FrameType
from typing import Any

from service.settings import Settings, SettingsError, load_settings


def serve(settings: Settings) -> None:
    """Load the model (failing fast), then serve until interrupted."""
    import torch
    import uvicorn

    from service.core.loading import close, load_settings_models
    from service.http.app import create_app
    from service.shutdown import DrainingServer

    torch.set_num_threads(settings.tuning.torch_threads)
    # As PID 1 of a container, the process ignores a stop signal that it has no handler for:
    # until uvicorn installs its own, a stop ends the loading here, children included.
    previous = signal.signal(signal.SIGTERM, _stop_loading)
    loaded = load_settings_models(settings)
    signal.signal(signal.SIGTERM, previous)
    app = create_app(settings, loaded=loaded)
    # The libraries (and the model, when it is loaded here) are 200-250k objects that live as
    # long as the process. Frozen, they are out of the garbage collector's sight, and a full
    # collection no longer stops the event loop (BENCHMARKS.md, "Where the defaults come from").
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        # The requests were drained already; this bounds what is left (a scrape, say).
        timeout_graceful_shutdown=5,
    )
    try:
        DrainingServer(config, app.state.service, settings.shutdown_grace_s).run()
    finally:  # the app closed them as they stopped serving, unless it never started
        close(*(load.workers for load in loaded.values() if load.workers is not None))


def _stop_loading(signum: int, frame: FrameType | None) -> None:
    print("bigru-ner serve: stopped while loading the models", file=sys.stderr, flush=True)
    for child in multiprocessing.active_children():
        child.kill()
    os._exit(128 + signum)


def main(overrides: Mapping[str, Any] | None = None) -> int:
    """Run the service; a bad setting or model ends it with status 2 and a clear message."""
    from model.artifact import ArtifactError
    from service.core.child import ModelProcessError
    from service.core.repository import RepositoryError

    try:
        settings = load_settings(**dict(overrides or {}))
    except SettingsError as error:
        print(f"bigru-ner serve: {error}", file=sys.stderr)
        return 2
    try:
        serve(settings)
    # An artifact's error names its variable, a repository's its path.
    except (ArtifactError, ModelProcessError, RepositoryError) as error:
        print(f"bigru-ner serve: {error}", file=sys.stderr)
        return 2
    return 0
