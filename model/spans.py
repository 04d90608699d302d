"""Reading the span annotations that annotation tools export: a text and the character spans
of its entities, one record per line (JSONL) or a JSON list of records.

The forms read, one record at a time:

* Doccano: ``{"text": ..., "label": [[start, end, "LABEL"], ...]}`` (or ``"entities"``, whose
  items may also be ``{"start_offset", "end_offset", "label"}``);
* Label Studio: its JSON export, ``{"data": {"text": ...}, "annotations": [{"result":
  [{"value": {"start", "end", "labels": [...]}}]}]}`` (the first annotation), and its JSON-min
  form ``{"text": ..., "label": [{"start", "end", "labels": [...]}]}``;
* Prodigy: ``{"text": ..., "spans": [{"start", "end", "label"}]}``; records it marks
  ``"answer": "reject"`` or ``"ignore"`` are left out.

Each text is cut into sentences and tokens as the tagger cuts raw text
(:func:`model.tokenize.split_sentences`) and its spans become IOB2 tags. A span whose ends fall
inside a token tags every token it overlaps (counted as misaligned); a span that overlaps one
before it (by start, the longer first) is dropped (counted). Whitespace in a label becomes ``_``,
so that tags stay one field.
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from model.data import Sentence, iob1_to_iob2, read_conll
from model.tokenize import Token, split_sentences

#: How a data file is read (``bigru-ner train --data-format``): by its extension (``auto``:
#: ``.jsonl`` and ``.json`` hold spans, anything else CoNLL columns), or as named.
DATA_FORMATS = ("auto", "conll", "spans")
SPAN_EXTENSIONS = (".jsonl", ".json")

#: A span of a text: start and end offsets (end exclusive) and its label.
Span = tuple[int, int, str]


class SpanFormatError(ValueError):
    """A record that cannot be read as a text with spans; the message names file and record."""


def read_data(
    path: str | Path, data_format: str = "auto", log: Callable[[str], object] = print
) -> list[Sentence]:
    """The labelled sentences of a CoNLL file or of a span file (see :data:`DATA_FORMATS`);
    what a span file's spans lost on the way is logged."""
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data format {data_format!r}: one of {', '.join(DATA_FORMATS)}")
    spans = data_format == "spans" or (
        data_format == "auto" and Path(path).suffix.lower() in SPAN_EXTENSIONS
    )
    if not spans:
        return read_conll(path)
    counts: Counter[str] = Counter()
    sentences = read_spans(path, counts)
    if counts["misaligned"] or counts["overlapping"] or counts["rejected"]:
        log(
            f"{Path(path).name}: {counts['spans']} spans in {counts['records']} records; "
            f"{counts['misaligned']} do not start and end at token boundaries (their tokens "
            f"tagged), {counts['overlapping']} overlap another (dropped); "
            f"{counts['rejected']} records rejected or ignored by the annotator (left out)"
        )
    return sentences


def read_spans(path: str | Path, counts: Counter[str] | None = None) -> list[Sentence]:
    """The sentences of a span file, tagged in IOB2; ``counts`` gets ``records``, ``spans``,
    ``misaligned``, ``overlapping`` and ``rejected``."""
    counts = Counter() if counts is None else counts
    sentences: list[Sentence] = []
    for where, record in _records(Path(path)):
        if not isinstance(record, dict):
            raise SpanFormatError(f"{where}: expected a JSON object, got {type(record).__name__}")
        if record.get("answer") in ("reject", "ignore"):
            counts["rejected"] += 1
            continue
        try:
            text, spans = record_spans(record)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise SpanFormatError(f"{where}: not a text with spans ({error})") from None
        counts["records"] += 1
        counts["spans"] += len(spans)
        sentences += tag_text(text, spans, counts)
    return sentences


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """Each record with where it stands: a JSON list (or object) in a file, or one a line."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            pass  # JSON lines under a .json name
        else:
            items = whole if isinstance(whole, list) else [whole]
            yield from ((f"{path}: record {i}", r) for i, r in enumerate(items, start=1))
            return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield f"{path}:{number}", json.loads(line)
            except json.JSONDecodeError as error:
                raise SpanFormatError(f"{path}:{number}: not JSON ({error})") from None


def record_spans(record: dict[str, Any]) -> tuple[str, list[Span]]:
    """The text of a record and its spans, in any of the forms the module reads."""
    data = record.get("data")
    text = record["text"] if "text" in record else data["text"] if isinstance(data, dict) else None
    if not isinstance(text, str):
        raise ValueError("no 'text' (or 'data': {'text'}) string")
    if "annotations" in record:
        annotations = record["annotations"]
        # Relations among the results have no value; choices have no offsets (_unlabelled).
        results = annotations[0]["result"] if annotations else []
        items = [r["value"] for r in results if "value" in r]
    else:
        items = next((record[k] for k in ("label", "entities", "spans") if k in record), [])
    return text, [_span(item) for item in items if not _unlabelled(item)]


def _unlabelled(item: Any) -> bool:
    # Label Studio results that are not spans (relations, choices) have no offsets.
    return isinstance(item, dict) and "start" not in item and "start_offset" not in item


def _span(item: Any) -> Span:
    if isinstance(item, list | tuple):
        start, end, label = item
    elif "labels" in item:
        start, end, label = item["start"], item["end"], item["labels"][0]
    elif "start_offset" in item:
        start, end, label = item["start_offset"], item["end_offset"], item["label"]
    else:
        start, end, label = item["start"], item["end"], item["label"]
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
        raise ValueError(f"span {item!r}: offsets must be integers, 0 <= start < end")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"span {item!r}: the label must be a non-empty string")
    return start, end, "_".join(label.split())


def tag_text(text: str, spans: list[Span], counts: Counter[str] | None = None) -> list[Sentence]:
    """``text`` cut into sentences as the tagger cuts it, its tokens tagged from ``spans``."""
    counts = Counter() if counts is None else counts
    sentences = split_sentences(text)
    tokens: list[Token] = [t for s in sentences for t in s]
    tags = ["O"] * len(tokens)
    ends = [t.end for t in tokens]
    for start, end, label in sorted(spans, key=lambda s: (s[0], -s[1])):  # longer first
        first = last = bisect.bisect_right(ends, start)  # the first token ending past start
        while last < len(tokens) and tokens[last].start < end:
            last += 1
        if first == last:
            continue  # whitespace alone, or past the text
        if any(tag != "O" for tag in tags[first:last]):
            counts["overlapping"] += 1
            continue
        inside = text[start:end]
        bounds = (
            start + len(inside) - len(inside.lstrip()),
            end - len(inside) + len(inside.rstrip()),
        )
        if (tokens[first].start, tokens[last - 1].end) != bounds:
            counts["misaligned"] += 1
        tags[first:last] = ["B-" + label] + ["I-" + label] * (last - first - 1)
    out: list[Sentence] = []
    at = 0
    for sentence in sentences:
        words = [t.text for t in sentence]
        # A span across a sentence break begins anew in the next sentence.
        out.append(Sentence(words, iob1_to_iob2(tags[at : at + len(words)])))
        at += len(words)
    return out
