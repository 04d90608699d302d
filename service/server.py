"""``bigru-ner serve``: one uvicorn process with one model on one device.

Scale out with replicas (one per device), not with workers that would each hold a copy of
the model and batch separately.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from service.settings import Settings, SettingsError, load_settings


def serve(settings: Settings) -> None:
    """Load the model (failing fast), then serve until interrupted."""
    import torch
    import uvicorn

    from service.app import create_app, load_tagger

    if settings.torch_threads is not None:
        torch.set_num_threads(settings.torch_threads)
    tagger = load_tagger(settings)
    uvicorn.run(
        create_app(settings, tagger),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
    )


def main(overrides: Mapping[str, Any] | None = None) -> int:
    """Run the service; a bad setting or model ends it with status 2 and a clear message."""
    from model.artifact import ArtifactError

    try:
        settings = load_settings(**dict(overrides or {}))
    except SettingsError as error:
        print(f"bigru-ner serve: {error}", file=sys.stderr)
        return 2
    try:
        serve(settings)
    except ArtifactError as error:
        print(f"bigru-ner serve: NER_MODEL: {error}", file=sys.stderr)
        return 2
    return 0
