from pathlib import Path

import numpy as np
import pytest

from model.training.embeddings import load_glove_text, load_vectors


def test_reads_glove_text_with_and_without_header(tmp_path: Path) -> None:
    body = "the 0.1 0.2 0.3\n, -1 0 1\nparis 1.5 2.5 -3.5\n"
    plain = tmp_path / "plain.txt"
    plain.write_text(body)
    header = tmp_path / "header.txt"
    header.write_text("3 3\n" + body)
    for path in (plain, header):
        vectors = load_vectors(str(path))
        assert vectors.words == ["the", ",", "paris"]
        assert vectors.dim == 3
        np.testing.assert_allclose(vectors.matrix[2], [1.5, 2.5, -3.5])
    assert load_glove_text(plain, limit=2).words == ["the", ","]


def test_ragged_vectors_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("a 1 2 3\nb 1 2\n")
    with pytest.raises(ValueError, match="vector 2 has 2 values"):
        load_glove_text(path)


def test_repeated_word_keeps_first_row(tmp_path: Path) -> None:
    path = tmp_path / "dup.txt"
    path.write_text("a 1 1\nb 2 2\na 3 3\n")
    assert load_glove_text(path).index() == {"a": 0, "b": 1}
