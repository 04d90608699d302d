"""The Spark function on a local session (where Java is present)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from model.corpus.spark import tag_dataframe
from model.tagger import Tagger

pytest.importorskip("pyspark", reason="the spark extra: pip install 'bigru-ner[spark]'")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java (make system-deps installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from pyspark.sql import SparkSession

    # The executors' Python: this one, with torch and the model package.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYSPARK_PYTHON", sys.executable)
        session = _session(SparkSession, tmp_path_factory.mktemp("spark"))
        yield session
        session.stop()


def _session(builder: Any, scratch: Path) -> Any:
    return (
        builder.builder.master("local[2]")
        .appName("bigru-ner-test")
        .config("spark.ui.enabled", "false")
        .config("spark.local.dir", str(scratch))
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )


def test_map_in_pandas_tags_every_row_and_keeps_the_others_columns(
    spark: Any, tiny_model: Path, texts: list[str]
) -> None:
    rows = [(i, text, "en") for i, text in enumerate(texts[:60])]
    rows += [(60, "", "en"), (61, "Mary " * 100, "en")]
    frame = spark.createDataFrame(rows, "id long, body string, lang string").repartition(3)
    tagged = tag_dataframe(frame, str(tiny_model), "body", tokens=True, max_chars=400)
    out = {row["id"]: row for row in tagged.collect()}
    assert sorted(out) == list(range(62))
    expected = Tagger.load(tiny_model).tag(texts[:60])
    for i, result in enumerate(expected):
        row = out[i]
        assert row["lang"] == "en" and row["reject"] is None
        assert [(e["label"], e["text"], e["start"]) for e in row["entities"]] == [
            (e.label, e.text, e.start) for e in result.entities
        ]
        assert [t["tag"] for t in row["tokens"]] == [t.tag for t in result.tokens]
    assert out[60]["reject"] == "no text in 'body'" and out[60]["entities"] is None
    assert out[61]["reject"] == "500 characters, at most 400"
