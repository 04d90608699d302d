"""``bigru-ner serve``: one uvicorn process with one model on one device.

Scale out with replicas (one per device), not with workers that would each hold a copy of
the model and batch separately.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Mapping
from typing import Any

from service.settings import Settings, SettingsError, load_settings


def serve(settings: Settings) -> None:
    """Load the model (failing fast), then serve until interrupted."""
    import torch
    import uvicorn

    from service.app import create_app, load_models
    from service.model_process import ModelProcess
    from service.shutdown import DrainingServer

    torch.set_num_threads(settings.torch_threads)
    tagger, forward = load_models(settings)
    app = create_app(settings, tagger, forward)
    # The libraries (and the model, when it is loaded here) are 200-250k objects that live as
    # long as the process. Frozen, they are out of the garbage collector's sight. With the model
    # in this process, full collections had stopped the event loop for ~80 ms about twice a
    # second under load; without it, one still takes ~40 ms.
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
    finally:
        for served in (tagger, forward):
            if isinstance(served, ModelProcess):
                served.close()


def main(overrides: Mapping[str, Any] | None = None) -> int:
    """Run the service; a bad setting or model ends it with status 2 and a clear message."""
    from model.artifact import ArtifactError
    from service.model_process import ModelProcessError

    try:
        settings = load_settings(**dict(overrides or {}))
    except SettingsError as error:
        print(f"bigru-ner serve: {error}", file=sys.stderr)
        return 2
    try:
        serve(settings)
    except ArtifactError as error:
        named = str(error).startswith("NER_FORWARD_MODEL")  # it names its own variable
        print(f"bigru-ner serve: {'' if named else 'NER_MODEL: '}{error}", file=sys.stderr)
        return 2
    except ModelProcessError as error:
        print(f"bigru-ner serve: {error}", file=sys.stderr)
        return 2
    return 0
