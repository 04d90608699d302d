"""Fixtures of the service tests (helpers live in :mod:`tests.service.support`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.tagger import Tagger
from tests.service.support import StubTagger


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def stub() -> StubTagger:
    """A fresh recording stub tagger."""
    return StubTagger()


@pytest.fixture(scope="session")
def tiny_tagger(tiny_model: Path) -> Tagger:
    """The tiny trained BiGRU of the model tests, loaded once."""
    return Tagger.load(tiny_model, "cpu")


@pytest.fixture(scope="session")
def tiny_forward_tagger(tiny_forward_model: Path) -> Tagger:
    """The tiny trained forward-only GRU of the model tests, loaded once."""
    return Tagger.load(tiny_forward_model, "cpu")
