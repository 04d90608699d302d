"""The fill of words a pretrained set lacks (--embeddings-fill), and a model trained with it."""

from pathlib import Path

import numpy as np
import pytest

from model import artifact
from model.data import read_conll
from model.network import TaggerNetwork
from model.training.config import TrainConfig
from model.training.embeddings import Vectors, load_vectors, save_vector_dir
from model.training.fill import fill_missing, fit_map
from model.training.prepare import (
    build_vocab,
    init_embeddings,
    network_config,
    pretrained_vectors,
)
from model.training.train import train
from tests.conftest import tiny_config


def test_fitted_map_is_exact_on_a_linear_fixture() -> None:
    rng = np.random.default_rng(0)
    source = rng.normal(size=(40, 5))
    truth = rng.normal(size=(5, 8))
    np.testing.assert_allclose(fit_map(source, source @ truth), truth, atol=1e-5)


def test_a_word_only_in_the_other_set_gets_its_vector_mapped() -> None:
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(30)]
    narrow = Vectors(words, rng.normal(size=(30, 4)).astype(np.float32))
    truth = rng.normal(size=(4, 10)).astype(np.float32)
    wide = Vectors(words[:-2], narrow.matrix[:-2] @ truth)
    filled = fill_missing(wide, narrow)
    assert (filled.shared, filled.added) == (28, 2)
    np.testing.assert_allclose(filled.weights, truth, atol=1e-4)
    index = filled.vectors.index()
    for word in ("w28", "w29"):
        v50 = narrow.matrix[narrow.index()[word]]
        np.testing.assert_allclose(
            filled.vectors.matrix[index[word]], v50 @ filled.weights, rtol=1e-6
        )
        np.testing.assert_allclose(filled.vectors.matrix[index[word]], v50 @ truth, atol=1e-4)
    np.testing.assert_array_equal(filled.vectors.matrix[index["w3"]], wide.matrix[3])


def test_a_filled_word_follows_its_neighbour_so_a_limit_keeps_the_frequent_ones() -> None:
    narrow = Vectors(
        ["the", "1996", "1997", "of", "a", "paris"], np.eye(6, 3, dtype=np.float32) + 1
    )
    wide = Vectors(["the", "of", "paris", "zzz"], np.ones((4, 6), dtype=np.float32))
    filled = fill_missing(wide, narrow)
    assert filled.vectors.words == ["the", "1996", "1997", "of", "a", "paris", "zzz"]
    assert filled.vectors.head(3).words == ["the", "1996", "1997"]


def test_too_few_shared_words_to_fit_is_an_error() -> None:
    wide = Vectors(["a", "b"], np.ones((2, 6), dtype=np.float32))
    narrow = Vectors(["a", "b", "c"], np.ones((3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="too few"):
        fill_missing(wide, narrow)


def hundred_dim_lacking(
    corpus: dict[str, Path], directory: Path, lacking: set[str]
) -> tuple[Vectors, np.ndarray]:
    """The corpus's 16-d vectors times a 16 x 100 matrix, saved as a vector directory without
    ``lacking``; the 16-d vectors and the matrix."""
    narrow = load_vectors(str(corpus["glove"]))
    truth = np.random.default_rng(3).normal(scale=0.3, size=(narrow.dim, 100)).astype(np.float32)
    kept = [i for i, w in enumerate(narrow.words) if w not in lacking]
    wide = Vectors([narrow.words[i] for i in kept], narrow.matrix[kept] @ truth)
    save_vector_dir(wide, directory, {"name": "fixture"})
    return narrow, truth


def test_the_fill_is_used_only_when_asked(corpus: dict[str, Path], tmp_path: Path) -> None:
    hundred_dim_lacking(corpus, tmp_path / "wide", {"paris", "oslo"})
    plain = tiny_config(corpus, tmp_path, embeddings=str(tmp_path / "wide"))
    assert isinstance(plain, TrainConfig)
    alone = pretrained_vectors(plain, log=print)
    assert alone is not None and "paris" not in alone.index()
    messages: list[str] = []
    asked = tiny_config(
        corpus,
        tmp_path,
        embeddings=str(tmp_path / "wide"),
        embeddings_fill=str(corpus["glove"]),
        embeddings_limit=5,
    )
    assert isinstance(asked, TrainConfig)
    filled = pretrained_vectors(asked, log=messages.append)
    assert filled is not None and len(filled.words) == 5  # the limit taken after the fill
    assert messages == [
        f"2 words filled in from {corpus['glove']} by a linear map fitted on "
        f"{len(alone.words)} words in both"
    ]


def test_filled_100_dim_rows_survive_the_artifact_round_trip(
    corpus: dict[str, Path], tmp_path: Path
) -> None:
    """The run's initial word table, 100-d rows from the directory and the mapped ones for the
    words it lacks, saved (float16) and loaded back."""
    narrow, truth = hundred_dim_lacking(corpus, tmp_path / "wide", {"paris", "oslo"})
    config = tiny_config(
        corpus,
        tmp_path / "model",
        embeddings=str(tmp_path / "wide"),
        embeddings_fill=str(corpus["glove"]),
    )
    assert isinstance(config, TrainConfig)
    vectors = pretrained_vectors(config, log=print)
    assert vectors is not None
    vocab = build_vocab(read_conll(corpus["train"]), vectors)
    network = TaggerNetwork(network_config(config, vocab, vectors))
    assert init_embeddings(network, vocab, vectors, seed=1) > 0.5
    artifact.save(tmp_path / "model", network, vocab)
    loaded = artifact.load(tmp_path / "model")
    assert loaded.network.config.word_dim == 100
    rows = loaded.network.words.weight.detach().numpy()
    index = narrow.index()
    for word in ("paris", "oslo", "monday"):  # the first two filled in, the third as given
        expected = narrow.matrix[index[word]] @ truth
        np.testing.assert_allclose(rows[loaded.vocab.word_index[word]], expected, atol=1e-2)


def test_a_run_with_a_fill_trains_and_records_it(corpus: dict[str, Path], tmp_path: Path) -> None:
    hundred_dim_lacking(corpus, tmp_path / "wide", {"paris", "oslo"})
    config = tiny_config(
        corpus,
        tmp_path / "model",
        embeddings=str(tmp_path / "wide"),
        embeddings_fill=str(corpus["glove"]),
        epochs=1,
    )
    assert train(config, log=lambda _: None) is not None  # type: ignore[arg-type]
    loaded = artifact.load(tmp_path / "model")
    assert loaded.metadata["training"]["embeddings_fill"] == corpus["glove"].name
    assert loaded.network.words.weight.shape[1] == 100
