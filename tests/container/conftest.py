"""Fixtures of the container tests: a Docker engine and the service's image built from this
checkout (``make image``'s path: the official base where reachable, else the stand-in).

Every test here is marked ``docker`` (``-m "not docker"`` leaves them out locally); ``make
test`` runs them. ``IMAGE_BASE=official|standin`` chooses the base instead of detecting it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator

import pytest

from tests.container import build
from tests.container.support import docker_engine

#: What the tests build and run: a tag of this checkout's own, so that tests of two checkouts
#: sharing one engine do not run each other's image (`make image` tags bigru-ner:cpu).
IMAGE = "bigru-ner:test-" + hashlib.sha256(str(build.ROOT).encode()).hexdigest()[:8]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def docker_available() -> Iterator[None]:
    """A Docker engine: the running one, else one started for this session."""
    with docker_engine():
        yield


@pytest.fixture(scope="session")
def image(docker_available: None) -> str:
    """The service's image built from this checkout; its tag. The engine's layer cache makes
    a rebuild without changes take seconds."""
    started = time.monotonic()
    tag = build.build_image(IMAGE, os.environ.get("IMAGE_BASE", "auto"))
    print(f"built {tag} in {time.monotonic() - started:.0f} s")
    return tag
