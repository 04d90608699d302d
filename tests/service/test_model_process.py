"""The model in a child process: same answers as in-process, failures reported, clean exit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from model.artifact import ArtifactError
from model.tagger import Tagger
from service.app import create_app
from service.model_process import ModelProcess
from service.pipeline import describe
from tests.service.support import serving, settings


@pytest.fixture(scope="module")
def process(tiny_model: Path) -> Iterator[ModelProcess]:
    started = ModelProcess.start(tiny_model, "cpu", threads=1)
    yield started
    started.close()


def test_answers_as_the_tagger_does_in_process(process: ModelProcess, tiny_tagger: Tagger) -> None:
    sentences = [["Mary", "Rossi", "visited", "Oslo", "."], ["Acme", "Corp", "hired", "Kofi"]]
    assert process.tag_sentences(sentences) == tiny_tagger.tag_sentences(sentences)
    assert process.info == describe(tiny_tagger)
    assert process.device.type == "cpu"


def test_a_failing_batch_raises_and_the_process_goes_on(process: ModelProcess) -> None:
    with pytest.raises(RuntimeError, match="AttributeError"):
        process.tag_sentences([[None]])  # type: ignore[list-item]  # not a token
    tags, _ = process.tag_sentences([["Oslo"]])
    assert len(tags) == 1 and len(tags[0]) == 1


def test_a_bad_model_directory_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError):
        ModelProcess.start(tmp_path, "cpu", threads=1)


def test_close_ends_the_child(tiny_model: Path) -> None:
    started = ModelProcess.start(tiny_model, "cpu", threads=1)
    child = started._process
    started.close()
    assert not child.is_alive()
    with pytest.raises(RuntimeError, match="gone"):
        started.tag_sentences([["Oslo"]])


@pytest.mark.anyio
async def test_an_app_that_loads_its_model_runs_it_in_a_process_and_ends_it(
    tiny_model: Path,
) -> None:
    app = create_app(settings(model=tiny_model, device="cpu"))
    async with serving(app) as client:
        tagged = await client.post("/v1/tag", json={"text": "Mary Rossi visited Oslo ."})
        served = app.state.service.tagger
        assert isinstance(served, ModelProcess)
    assert tagged.status_code == 200
    assert not served._process.is_alive()
