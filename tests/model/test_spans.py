"""Span files as annotation tools export them, read into IOB2-tagged sentences."""

import json
from collections import Counter
from pathlib import Path

import pytest

from model.data import Sentence
from model.spans import SpanFormatError, read_data, read_spans, tag_text

TEXT = "Take 50 mg of Aspirin daily. Then Ibuprofen."
#: The entities of TEXT: "50 mg" a DOSE, "Aspirin" and "Ibuprofen" DRUGs.
SPANS = [(5, 10, "DOSE"), (14, 21, "DRUG"), (34, 43, "DRUG")]
EXPECTED = [
    Sentence(
        ["Take", "50", "mg", "of", "Aspirin", "daily", "."],
        ["O", "B-DOSE", "I-DOSE", "O", "B-DRUG", "O", "O"],
    ),
    Sentence(["Then", "Ibuprofen", "."], ["O", "B-DRUG", "O"]),
]


def _lines(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


#: TEXT's record as each tool writes it.
FORMS = {
    "doccano": {"text": TEXT, "label": [list(s) for s in SPANS]},
    "doccano-entities": {
        "text": TEXT,
        "entities": [{"start_offset": a, "end_offset": b, "label": c} for a, b, c in SPANS],
    },
    "label-studio-min": {
        "text": TEXT,
        "label": [{"start": a, "end": b, "labels": [c]} for a, b, c in SPANS],
    },
    "label-studio": {
        "data": {"text": TEXT},
        "annotations": [
            {
                "result": [{"value": {"start": a, "end": b, "labels": [c]}} for a, b, c in SPANS]
                + [{"type": "relation", "from_id": "a", "to_id": "b"}]
                + [{"type": "choices", "value": {"choices": ["urgent"]}}]
            }
        ],
    },
    "prodigy": {"text": TEXT, "spans": [{"start": a, "end": b, "label": c} for a, b, c in SPANS]},
}


@pytest.mark.parametrize("record", FORMS.values(), ids=FORMS.keys())
def test_each_tool_s_form_gives_the_same_sentences(record: object, tmp_path: Path) -> None:
    assert read_spans(_lines(tmp_path / "data.jsonl", [record])) == EXPECTED


def test_a_json_list_and_rejected_records(tmp_path: Path) -> None:
    rejected = {"text": "Skip Aspirin.", "answer": "reject", "spans": [[5, 12, "X"]]}
    records = [FORMS["prodigy"], rejected]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    logged: list[str] = []
    assert read_data(path, log=logged.append) == EXPECTED
    assert "1 records rejected" in logged[0]


def test_misaligned_and_overlapping_spans_are_counted() -> None:
    counts: Counter[str] = Counter()
    # "Aspir" ends inside a token; "mg of" overlaps "50 mg"; " Then" has a space before it.
    spans = [(5, 10, "DOSE"), (8, 13, "DOSE"), (14, 19, "DRUG"), (28, 33, "WHEN")]
    first, second = tag_text(TEXT, spans, counts)
    assert first.tags == ["O", "B-DOSE", "I-DOSE", "O", "B-DRUG", "O", "O"]
    assert second.tags == ["B-WHEN", "O", "O"]
    assert counts == Counter({"misaligned": 1, "overlapping": 1})


def test_a_span_across_sentences_begins_again_and_labels_keep_one_field(tmp_path: Path) -> None:
    record = {"text": TEXT, "label": [[22, 38, "long  label"]]}
    (first, second) = read_spans(_lines(tmp_path / "data.jsonl", [record]))
    assert first.tags[-2:] == ["B-long_label", "I-long_label"]
    assert second.tags[:2] == ["B-long_label", "I-long_label"]


def test_conll_by_extension_and_bad_records(tmp_path: Path) -> None:
    conll = tmp_path / "data.txt"
    conll.write_text("Aspirin B-DRUG\nworks O\n", encoding="utf-8")
    assert read_data(conll) == [Sentence(["Aspirin", "works"], ["B-DRUG", "O"])]
    with pytest.raises(SpanFormatError, match=r"data.jsonl:2: not a text with spans"):
        read_data(
            _lines(tmp_path / "data.jsonl", [{"text": "a"}, {"text": "b", "spans": [[3, 1, "X"]]}])
        )
    with pytest.raises(ValueError, match="data format"):
        read_data(conll, "csv")
