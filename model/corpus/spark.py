"""Spark: a corpus already in a DataFrame, tagged with ``mapInPandas``.

Each Python worker of an executor loads the tagger once (Spark reuses its Python workers
between tasks, so the model is loaded once per worker, not per partition) and runs torch on
one thread: Spark gives every task a core. The output is the input's columns and ``entities``
(and ``tokens`` when asked), with ``reject`` saying why a row was not tagged (no text, too
long), null otherwise::

    from model.corpus.spark import tag_dataframe
    tagged = tag_dataframe(spark.read.parquet("s3://bucket/tickets/"), "/models/bigru")
    tagged.write.parquet("s3://bucket/tickets-tagged/")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from model.corpus.records import MAX_CHARS, Limits, Reject, checked
from model.corpus.rows import tag_records

_taggers: dict[str, Any] = {}

ENTITY = "struct<text:string,label:string,start:int,end:int,score:double>"
TOKEN = "struct<text:string,start:int,end:int,tag:string,score:double>"


def _tagger(model: str) -> Any:
    """The tagger of ``model`` in this process, loaded on first use."""
    if model not in _taggers:
        import torch

        from model.tagger import Tagger

        torch.set_num_threads(1)
        _taggers[model] = Tagger.load(model)
    return _taggers[model]


def tag_partitions(
    model: str,
    text_column: str = "text",
    tokens: bool = False,
    max_chars: int = MAX_CHARS,
    batch_size: int = 256,
) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The function for ``DataFrame.mapInPandas``: pandas frames in, the same frames with
    ``entities`` (``tokens``) and ``reject`` columns out."""
    limits = Limits(max_chars, text_column)

    def tag(frames: Iterator[Any]) -> Iterator[Any]:
        tagger = _tagger(model)
        for frame in frames:
            for start in range(0, len(frame), batch_size):
                yield _tagged(tagger, frame.iloc[start : start + batch_size].copy(), limits, tokens)

    return tag


def _tagged(tagger: Any, frame: Any, limits: Limits, tokens: bool) -> Any:
    items = [
        checked({limits.text_field: text}, str(i), "", limits)
        for i, text in enumerate(frame[limits.text_field].tolist())
    ]
    records = [item for item in items if not isinstance(item, Reject)]
    rows = iter(tag_records(tagger, records, tokens).rows)
    tagged = [None if isinstance(item, Reject) else next(rows) for item in items]
    frame["entities"] = [None if row is None else row["entities"] for row in tagged]
    if tokens:
        frame["tokens"] = [None if row is None else row["tokens"] for row in tagged]
    frame["reject"] = [item.reason if isinstance(item, Reject) else None for item in items]
    return frame


def output_schema(input_schema: Any, tokens: bool = False) -> str:
    """The DDL schema of :func:`tag_partitions`' output for an input of ``input_schema``."""
    columns = [f"`{field.name}` {field.dataType.simpleString()}" for field in input_schema]
    columns.append(f"entities array<{ENTITY}>")
    if tokens:
        columns.append(f"tokens array<{TOKEN}>")
    return ", ".join([*columns, "reject string"])


def tag_dataframe(
    frame: Any, model: str, text_column: str = "text", tokens: bool = False, **options: Any
) -> Any:
    """``frame`` with the entities of its ``text_column`` (see :func:`tag_partitions`)."""
    function = tag_partitions(model, text_column, tokens, **options)
    return frame.mapInPandas(function, schema=output_schema(frame.schema, tokens))
