import json
import shutil
from pathlib import Path

import pytest
import torch

from model.artifact import LEXICON, ArtifactError, load, save
from model.features import encode, tag_sentences
from model.lexicon import Lexicon, build, marks_of
from model.training.train import train
from tests.conftest import FIRST, ORGS, PLACES, tiny_config

LEXICON_SOURCES = [{"name": "hand-written", "version": "1", "licence": "CC0-1.0"}]


def lexicon() -> Lexicon:
    return build(
        {
            "LOC": [["New", "York"], ["New", "York", "City"], ["Paris"], ["Rio", "de", "Janeiro"]],
            "PER": [["Paris"], ["Hilton"], ["Mary", "Ann", "Evans", "Cross"]],
        },
        LEXICON_SOURCES,
    )


def marks(lex: Lexicon, text: str) -> list[dict[str, str]]:
    return [marks_of(f, lex.categories) for f in lex.features(text.split())]


def test_longest_match_wins_and_gets_bioes_marks() -> None:
    assert marks(lexicon(), "we flew to new york city today") == [
        {},
        {},
        {},
        {"LOC": "B"},
        {"LOC": "I"},
        {"LOC": "E"},
        {},
    ]


def test_lookup_ignores_case_and_categories_match_independently() -> None:
    assert marks(lexicon(), "PARIS Hilton in paris") == [
        {"LOC": "S", "PER": "S"},
        {"PER": "S"},
        {},
        {"LOC": "S", "PER": "S"},
    ]


def test_matches_of_one_category_do_not_overlap() -> None:
    # "New York" then "York City"-like overlaps: after "new york city" the search goes on
    # after "city", and a second "new york" starts a match of its own.
    assert marks(lexicon(), "new york city new york") == [
        {"LOC": "B"},
        {"LOC": "I"},
        {"LOC": "E"},
        {"LOC": "B"},
        {"LOC": "E"},
    ]


def test_partial_matches_need_half_the_entry_and_two_tokens() -> None:
    lex = lexicon()
    # Prefix and suffix of 2 of a 4-token entry: partial matches.
    assert marks(lex, "mary ann said") == [{"PER": "B"}, {"PER": "E"}, {}]
    assert marks(lex, "evans cross said") == [{"PER": "B"}, {"PER": "E"}, {}]
    # Inner tokens are neither a prefix nor a suffix; a lone "rio" is too short.
    assert marks(lex, "ann evans") == [{}, {}]
    assert marks(lex, "rio and de janeiro") == [{}, {}, {"LOC": "B"}, {"LOC": "E"}]


def test_causal_marks_depend_only_on_earlier_tokens() -> None:
    lex = lexicon()
    lex.causal = True
    sentence = "in new york city and rio de janeiro paris hilton mary ann evans cross".split()
    full = lex.features(sentence)
    for cut in range(1, len(sentence)):
        assert lex.features(sentence[:cut]) == full[:cut]
    assert [marks_of(f, lex.categories) for f in full[:4]] == [
        {},
        {"LOC": "B"},
        {"LOC": "E"},  # "new york" is an entry, and nothing says yet that "city" follows
        {"LOC": "E"},
    ]
    lex.causal = False  # the BIOES marks of a tagger that reads both ways do look ahead
    assert lex.features(["new"]) != lex.features(["new", "york"])[:1]


def test_json_round_trip_keeps_entries_sources_and_digest() -> None:
    lex = lexicon()
    data = json.loads(json.dumps(lex.to_json()))
    again = Lexicon.from_json(data)
    assert again.entries == lex.entries and again.sources == LEXICON_SOURCES
    assert again.digest() == lex.digest()
    assert data["categories"]["LOC"] == sorted(data["categories"]["LOC"])
    with pytest.raises(ValueError, match="lists of strings"):
        Lexicon.from_json({"categories": {"LOC": "paris"}})
    with pytest.raises(ValueError, match="at most 15"):
        Lexicon({f"c{i}": [("x",)] for i in range(16)})


def lexicon_file(tmp_path: Path) -> Path:
    lex = build(
        {
            "LOC": [[p] for p in PLACES],
            "FIRST": [[f] for f in FIRST],
            "ORG": [o.split() for o in ORGS],
        },
        LEXICON_SOURCES,
    )
    path = tmp_path / "lexicon.json"
    path.write_text(json.dumps(lex.to_json()))
    return path


@pytest.fixture(scope="module")
def lexicon_models(
    corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lexicon-models")
    path = lexicon_file(root)
    out = {}
    for name, bidirectional in (("bigru", True), ("gru", False)):
        config = tiny_config(
            corpus, root / name, lexicon=str(path), bidirectional=bidirectional, epochs=6
        )
        train(config, log=lambda _: None)  # type: ignore[arg-type]
        out[name] = root / name
    return out


def test_train_save_load_predict_round_trip_with_a_lexicon(
    lexicon_models: dict[str, Path], tmp_path: Path
) -> None:
    loaded = load(lexicon_models["bigru"])
    assert loaded.network.config.lexicon_categories == 3
    assert loaded.vocab.lexicon is not None and not loaded.vocab.lexicon.causal
    assert loaded.vocab.lexicon.categories == ["LOC", "FIRST", "ORG"]
    batch = encode([["Olga", "Berg", "left", "Lima", "."]], loaded.vocab, 32)
    assert batch.lexicon is not None and batch.lexicon[0].tolist()[0] != 0
    sentence = [["Olga", "Berg", "joined", "Globex", "Inc", "in", "Lima", "."]]
    (predicted,) = tag_sentences(loaded.network, loaded.vocab, sentence)
    assert predicted.tags[3:5] == ["B-ORG", "I-ORG"] and predicted.tags[6] == "B-LOC"
    save(tmp_path / "again", loaded.network, loaded.vocab, loaded.metadata)
    again = load(tmp_path / "again")
    assert tag_sentences(again.network, again.vocab, sentence) == tag_sentences(
        loaded.network, loaded.vocab, sentence
    )
    assert (tmp_path / "again" / LEXICON).exists()


def test_the_network_uses_the_lexicon_features(lexicon_models: dict[str, Path]) -> None:
    loaded = load(lexicon_models["bigru"])
    batch = encode([["Quito", "is", "far", "."]], loaded.vocab, 32)
    assert batch.lexicon is not None
    with torch.inference_mode():
        with_marks = loaded.network(batch)
        batch.lexicon.zero_()
        without = loaded.network(batch)
    assert not torch.allclose(with_marks, without)


def test_lexicon_dropout_zeroes_whole_tokens_in_training_only(
    lexicon_models: dict[str, Path],
) -> None:
    network = load(lexicon_models["bigru"]).network
    assert network.config.lexicon_dropout == 0.5
    lexicon = torch.full((4, 50), 0b0100_1000, dtype=torch.long)
    batch = encode([["Quito"] * 50] * 4, load(lexicon_models["bigru"]).vocab, 32)
    batch.lexicon = lexicon
    network.train()
    torch.manual_seed(0)
    features = network._lexicon_features(batch)
    kept = features.sum(-1)
    assert set(kept.unique().tolist()) == {0.0, 2.0}  # a token keeps all its marks or none
    assert 0.3 < (kept > 0).float().mean().item() < 0.7
    network.eval()
    assert bool((network._lexicon_features(batch).sum(-1) == 2).all())


def test_forward_twin_with_a_lexicon_cannot_see_later_words(
    lexicon_models: dict[str, Path],
) -> None:
    twin = load(lexicon_models["gru"])
    assert twin.vocab.lexicon is not None and twin.vocab.lexicon.causal
    # "Acme" opens an ORG entry only if "Corp" follows; the twin must not know which comes.
    a = [["Acme", "Corp", "hired", "Kofi", "Tanaka", "."]]
    b = [["Acme", "visited", "Oslo", "on", "Monday", "."]]
    (on_a,) = tag_sentences(twin.network, twin.vocab, a)
    (on_b,) = tag_sentences(twin.network, twin.vocab, b)
    assert on_a.tags[0] == on_b.tags[0]
    assert on_a.scores[0] == pytest.approx(on_b.scores[0], abs=1e-6)


@pytest.fixture
def copy(lexicon_models: dict[str, Path], tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(lexicon_models["bigru"], target, ignore=shutil.ignore_patterns("checkpoint"))
    return target


def test_a_changed_lexicon_is_refused(copy: Path) -> None:
    path = copy / LEXICON
    data = json.loads(path.read_text())
    data["categories"]["LOC"].append("atlantis")
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="sha256"):
        load(copy)


def test_a_lexicon_with_other_categories_is_refused(copy: Path) -> None:
    path = copy / LEXICON
    data = json.loads(path.read_text())
    data["categories"]["PER"] = data["categories"].pop("FIRST")
    path.write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="categories"):
        load(copy)


def test_a_missing_or_unexpected_lexicon_is_refused(copy: Path, tiny_model: Path) -> None:
    lexicon = (copy / LEXICON).read_text()
    (copy / LEXICON).unlink()
    with pytest.raises(ArtifactError, match="missing lexicon.json"):
        load(copy)
    plain = copy.parent / "plain"
    shutil.copytree(tiny_model, plain, ignore=shutil.ignore_patterns("checkpoint"))
    (plain / LEXICON).write_text(lexicon)
    with pytest.raises(ArtifactError, match="config.json has no lexicon"):
        load(plain)
