from pathlib import Path

import pytest

from model.data import (
    ConllFormatError,
    Sentence,
    iob1_to_iob2,
    read_conll,
    read_documents,
    recase,
)
from model.pipeline import Span, tags_to_spans


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.conll"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_space_separated_conll_and_skips_docstart(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "-DOCSTART- NN O O\n\nAcme NNP B-NP B-ORG\nhires VBZ B-VP O\n\n"
        "Olga NNP B-NP B-PER\nBerg NNP I-NP I-PER\n",
    )
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [["Acme", "hires"], ["Olga", "Berg"]]
    assert [s.tags for s in sentences] == [["B-ORG", "O"], ["B-PER", "I-PER"]]


def test_documents_begin_at_docstart_even_without_a_blank_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "Intro O\n\n-DOCSTART- -X- O\n\nAcme B-ORG\n\nOlga B-PER\n"
        "-DOCSTART- -X- O\nBerg B-PER\n\n-DOCSTART- -X- O\n",
    )
    documents = read_documents(path)
    assert [[s.tokens for s in d] for d in documents] == [
        [["Intro"]],
        [["Acme"], ["Olga"]],
        [["Berg"]],
    ]
    assert [s for d in documents for s in d] == read_conll(path)


def test_reads_tab_separated_file_with_comments_and_hashtags(tmp_path: Path) -> None:
    path = write(tmp_path, "# sent_id = 1\n#NFL\tO\nfans\tO\n\n\n# text = x\nLA\tB-location\n")
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [["#NFL", "fans"], ["LA"]]
    assert sentences[1].tags == ["B-location"]


def test_iob1_is_normalised_to_iob2(tmp_path: Path) -> None:
    path = write(tmp_path, "Olga I-PER\nBerg I-PER\nParis I-LOC\nLondon B-LOC\nx O\ny I-MISC\n")
    (sentence,) = read_conll(path)
    assert sentence.tags == ["B-PER", "I-PER", "B-LOC", "B-LOC", "O", "B-MISC"]


def test_iob2_passes_through_unchanged() -> None:
    tags = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC"]
    assert iob1_to_iob2(tags) == tags


@pytest.mark.parametrize(
    ("line", "message"), [("lonely\n", "expected 'TOKEN"), ("word NN B-NP PERSON\n", "not an IOB")]
)
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, "ok NN O\n" + line)
    with pytest.raises(ConllFormatError) as error:
        read_conll(path)
    assert f"{path}:2" in str(error.value)
    assert message in str(error.value)


def test_spans_of_entity_at_sentence_end() -> None:
    assert tags_to_spans(["O", "B-LOC", "I-LOC"]) == [Span("LOC", 1, 3)]


def test_adjacent_b_tags_are_separate_entities() -> None:
    assert tags_to_spans(["B-PER", "B-PER", "I-PER"]) == [Span("PER", 0, 1), Span("PER", 1, 3)]


def test_stray_i_tag_opens_an_entity_like_conlleval() -> None:
    assert tags_to_spans(["O", "I-ORG", "I-ORG", "I-LOC", "O"]) == [
        Span("ORG", 1, 3),
        Span("LOC", 3, 4),
    ]


def test_no_entities() -> None:
    assert tags_to_spans(["O", "O"]) == []
    assert tags_to_spans([]) == []


def test_recase_rewrites_every_token_and_keeps_tags_aligned(tmp_path: Path) -> None:
    path = tmp_path / "d.txt"
    path.write_text("Paris NNP B-LOC\nHilton NNP I-LOC\nstraße NN O\n\nU.S. NNP B-LOC\n\n")
    sentences = read_conll(path)
    lower, upper, same = (recase(sentences, c) for c in ("lower", "upper", "as-is"))
    assert [s.tokens for s in lower] == [["paris", "hilton", "straße"], ["u.s."]]
    # "ß" upper-cases to "SS": tokens may change length, never number.
    assert [s.tokens for s in upper] == [["PARIS", "HILTON", "STRASSE"], ["U.S."]]
    assert same == sentences
    for variant in (lower, upper):
        assert [s.tags for s in variant] == [s.tags for s in sentences]
    assert sentences[0].tokens[0] == "Paris"  # the input is not changed in place


def test_recase_refuses_an_unknown_case() -> None:
    with pytest.raises(ValueError, match="unknown case 'title'"):
        recase([Sentence(["a"], ["O"])], "title")
