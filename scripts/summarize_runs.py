"""Summarise training runs for the model card: dev and test F1 per seed, mean and std.

    D=../shared/data/conll2003
    python scripts/summarize_runs.py --dev $D/valid.txt --test $D/test.txt runs/bigru-s*
    python scripts/summarize_runs.py --dev $D/valid.txt --test $D/test.txt \
        --cases as-is,lower,upper --other ../shared/data/wnut17/emerging.dev.conll \
        --label-map person=PER,location=LOC,corporation=ORG,group=ORG runs/v2-bigru-s*

Each run directory is a model artifact written by ``bigru-ner train``; every score comes from
evaluating the artifact as saved (its word table in half precision). ``--cases`` scores dev and
test rewritten in each case as well (``bigru-ner evaluate --case``); ``--other`` scores a file
from another source, its entity types renamed by ``--label-map`` (``bigru-ner evaluate
--label-map``). Prints Markdown, and with ``--json FILE`` writes everything measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from model.artifact import load
from model.data import read_conll, recase
from model.training.evaluate import evaluate, parse_label_map


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--dev", required=True, type=Path)
    parser.add_argument("--test", required=True, type=Path)
    parser.add_argument("--cases", default="as-is", help="comma-separated, as-is first")
    parser.add_argument("--other", type=Path, help="a CoNLL file from another source")
    parser.add_argument("--label-map", help="its entity types as the model's (TYPE=TYPE,...)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cases = args.cases.split(",")
    sets = {"dev": read_conll(args.dev), "test": read_conll(args.test)}
    columns = [(name, case) for name in sets for case in cases]
    label_map = parse_label_map(args.label_map) if args.label_map else None
    other = read_conll(args.other) if args.other else None
    rows = []
    for run in args.runs:
        loaded = load(run)
        meta = loaded.metadata
        history = json.loads((run / "checkpoint" / "state.json").read_text())["state"]["history"]
        started = time.perf_counter()
        scores = {
            f"{name} {case}": evaluate(loaded, recase(sets[name], case)).to_json()
            for name, case in columns
        }
        if other is not None:
            scores["other"] = evaluate(loaded, other, label_map=label_map).to_json()
        rows.append(
            {
                "run": run.name,
                "seed": meta["training"]["seed"],
                "best_epoch": meta["best_epoch"],
                "epochs": len(history),
                "train_seconds": round(sum(h["seconds"] for h in history)),
                "scores": scores,
                "eval_seconds": round(time.perf_counter() - started, 1),
            }
        )
    keys = list(rows[0]["scores"])
    print("| run | seed | best epoch / epochs | train time | " + " | ".join(keys) + " |")
    print("|---" * (4 + len(keys)) + "|")
    for r in rows:
        f1s = " | ".join(f"{r['scores'][k]['f1']:.4f}" for k in keys)
        minutes = r["train_seconds"] / 60
        print(
            f"| {r['run']} | {r['seed']} | {r['best_epoch']} / {r['epochs']} | "
            f"{minutes:.0f} min | {f1s} |"
        )
    if len(rows) > 1:
        print("| mean ± std | | | | " + " | ".join(_spread(rows, k) for k in keys) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


def _spread(rows: list[dict[str, Any]], key: str) -> str:
    values = [r["scores"][key]["f1"] for r in rows]
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


if __name__ == "__main__":
    main()
