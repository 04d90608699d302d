"""Summarise training runs for the model card: dev and test F1 per seed, mean and std.

    D=../shared/data/conll2003
    python scripts/summarize_runs.py --dev $D/valid.txt --test $D/test.txt runs/bigru-s*

Each run directory is a model artifact written by ``bigru-ner train``; both scores come from
evaluating the artifact as saved (its word table in half precision). Prints Markdown, and with
``--json FILE`` writes everything measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from model.artifact import load
from model.data import read_conll
from model.training.evaluate import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--dev", required=True, type=Path)
    parser.add_argument("--test", required=True, type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    dev, test = read_conll(args.dev), read_conll(args.test)
    rows = []
    for run in args.runs:
        loaded = load(run)
        meta = loaded.metadata
        history = json.loads((run / "checkpoint" / "state.json").read_text())["state"]["history"]
        started = time.perf_counter()
        dev_scores = evaluate(loaded, dev)
        scores = evaluate(loaded, test)
        rows.append(
            {
                "run": run.name,
                "seed": meta["training"]["seed"],
                "best_epoch": meta["best_epoch"],
                "epochs": len(history),
                "train_seconds": round(sum(h["seconds"] for h in history)),
                "dev_f1": dev_scores.f1,
                "dev": dev_scores.to_json(),
                "test": scores.to_json(),
                "test_seconds": round(time.perf_counter() - started, 1),
            }
        )
    print("| run | seed | best epoch / epochs | train time | dev F1 | test F1 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['run']} | {r['seed']} | {r['best_epoch']} / {r['epochs']} | "
            f"{r['train_seconds'] / 60:.0f} min | {r['dev_f1']:.4f} | {r['test']['f1']:.4f} |"
        )
    if len(rows) > 1:
        for key, values in (
            ("dev", [r["dev_f1"] for r in rows]),
            ("test", [r["test"]["f1"] for r in rows]),
        ):
            print(
                f"\n{key} F1 mean {statistics.mean(values):.4f} std {statistics.stdev(values):.4f}"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
