"""``bigru-ner train`` on span files as annotation tools export them, with entity types of
their own: the artifact lists the data's labels and tags them."""

import json
from pathlib import Path

from model.artifact import load
from model.cli import main
from model.tagger import Tagger
from tests.conftest import span_records


def test_a_model_trained_on_spans_tags_their_types(tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"  # Doccano
    train.write_text(
        "".join(json.dumps({"text": t, "label": s}) + "\n" for t, s in span_records(100, seed=1)),
        encoding="utf-8",
    )
    dev = tmp_path / "dev.json"  # Prodigy's spans, as one JSON list
    spans = [
        {"text": t, "spans": [{"start": a, "end": b, "label": c} for a, b, c in s]}
        for t, s in span_records(20, seed=2)
    ]
    dev.write_text(json.dumps(spans), encoding="utf-8")
    out = tmp_path / "model"
    flags = "--embeddings none --epochs 10 --batch-size 8 --lr 0.01 --hidden 16 --char-filters 8"
    flags += " --casing-dim 4 --dropout 0.1 --threads 1 --device cpu"
    code = main(
        ["train", "--train", str(train), "--dev", str(dev), "--out", str(out)] + flags.split()
    )
    assert code == 0
    loaded = load(out)
    assert loaded.vocab.labels == ["DOSE", "DRUG"]
    assert loaded.metadata["data"]["train"]["sentences"] == 100
    assert loaded.metadata["dev"]["f1"] > 0.9
    (tagged,) = Tagger.load(out).tag(["Take 500 mg of Warfarin daily."])
    assert [(e.label, e.text) for e in tagged.entities] == [
        ("DOSE", "500 mg"),
        ("DRUG", "Warfarin"),
    ]
