"""The bundled models: present, loadable, consistent, and behaving like trained taggers."""

from pathlib import Path

import pytest

from model.artifact import load
from model.bundled import DEFAULT_MODEL, FORWARD_MODEL
from model.tagger import Tagger


@pytest.mark.parametrize("directory", [DEFAULT_MODEL, FORWARD_MODEL])
def test_bundled_artifact_loads_and_stays_under_60_mb(directory: Path) -> None:
    loaded = load(directory)
    assert sorted(loaded.vocab.labels) == ["LOC", "MISC", "ORG", "PER"]
    assert loaded.metadata["training"]["bidirectional"] == loaded.network.config.bidirectional
    assert sum(p.stat().st_size for p in directory.iterdir()) < 60 * 2**20


def test_bundled_pair_differs_only_in_direction() -> None:
    both, forward = load(DEFAULT_MODEL), load(FORWARD_MODEL)
    assert both.network.config.bidirectional and not forward.network.config.bidirectional
    recipe = dict(both.metadata["training"])
    other = dict(forward.metadata["training"])
    for key in ("bidirectional", "seed", "out"):
        recipe.pop(key)
        other.pop(key)
    assert recipe == other


def test_bundled_bigru_finds_the_readme_entities() -> None:
    text = "Jordan signed a trade agreement with Egypt ."
    (result,) = Tagger.load(DEFAULT_MODEL).tag([text])
    assert ("Egypt", "LOC") in [(e.text, e.label) for e in result.entities]


def test_bundled_forward_twin_labels_an_opening_before_reading_on() -> None:
    tagger = Tagger.load(FORWARD_MODEL)
    first, second = tagger.tag_sentences(
        [["Paris", "Hilton", "arrived", "late", "."], ["Paris", "hosted", "the", "Games", "."]]
    )
    assert first.tags[0] == second.tags[0]


@pytest.mark.parametrize("directory", [DEFAULT_MODEL, FORWARD_MODEL])
@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_bundled_models_find_entities_in_text_of_one_case(directory: Path, case: object) -> None:
    """Both models were trained on sentences lower- and upper-cased too (the model card)."""
    text = case("Angela Merkel met officials of Siemens in Berlin on Monday .")  # type: ignore[operator]
    (result,) = Tagger.load(directory).tag([text])
    found = {(e.text.lower(), e.label) for e in result.entities}
    assert {("angela merkel", "PER"), ("siemens", "ORG"), ("berlin", "LOC")} <= found
    assert load(directory).metadata["training"]["case_lower"] > 0
