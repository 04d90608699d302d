"""Soak test: ``bigru-ner serve`` (bundled BiGRU, CPU) for N minutes at ~70% of its measured
capacity; per minute: requests, statuses, latency percentiles and resident memory.

    python -m bench.soak --minutes 5 --json soak.json

The requests and the capacity are bench.overload's (16 made-up sentences a request; 32
connections in a closed loop for 15 s), unless ``--rate`` gives the request rate; each minute
is one wrk run paced at that rate over 64 connections. Passes when every request got a 200
(none failed or fell behind the schedule),
resident memory (server and model processes) grew by less than 10% from the end of the first
minute to the end of the last, and the last minute's p99 is within 1.5x of the first's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.host import machine, rss_mib
from bench.loadgen import Load, made_up_sentences, write_bodies
from bench.overload import PER_REQUEST, capacity, summary
from bench.servers import service, serving


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--load", type=float, default=0.7, help="fraction of capacity")
    parser.add_argument("--rate", type=float, help="requests/s (skips measuring capacity)")
    parser.add_argument("--minute", type=float, default=60, help="seconds a reported minute")
    parser.add_argument("--capacity-seconds", type=float, default=15)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    sentences = made_up_sentences(500 * PER_REQUEST)
    with tempfile.TemporaryDirectory() as tmp, serving(service("service")) as running:
        bodies = write_bodies(Path(tmp) / "bodies.jsonl", sentences, PER_REQUEST)
        measured = None if args.rate else round(capacity(running, bodies, args.capacity_seconds), 1)
        rate = args.rate or round(args.load * (measured or 0), 1)
        print(f"capacity {measured} req/s; soaking at {rate:.1f} req/s", flush=True)
        load = Load(64, args.minute, 0, rate=rate)
        minutes: list[dict[str, Any]] = []
        for minute in range(1, args.minutes + 1):
            report = load.drive(running.url, bodies, load.duration)
            row = {"minute": minute, **summary(report), "rss_mib": round(rss_mib(running.pid), 1)}
            minutes.append(row)
            print(json.dumps(row), flush=True)
    first, last = minutes[0], minutes[-1]
    growth = (last["rss_mib"] - first["rss_mib"]) / first["rss_mib"]
    answered = sum(m["statuses"].get("200", 0) for m in minutes)
    result = {
        "machine": machine(),
        "command": " ".join(["python -m", __spec__.name, *sys.argv[1:]]),
        "capacity_rps": measured,
        "rate_rps": rate,
        "sentences_per_request": PER_REQUEST,
        "minutes": minutes,
        "requests": sum(m["requests"] for m in minutes),
        "not_200": sum(m["requests"] for m in minutes) - answered,
        "transport_errors": sum(m["transport_errors"] for m in minutes),
        "skipped": sum(m["skipped"] for m in minutes),
        "rss_growth": round(growth, 4),
        "p99_ratio_last_to_first": round(last["p99_ms"] / max(first["p99_ms"], 1e-9), 2),
    }
    passed = (
        result["not_200"] == result["transport_errors"] == result["skipped"] == 0
        and growth < 0.10
        and result["p99_ratio_last_to_first"] <= 1.5
    )
    result["passed"] = passed
    print(json.dumps({k: v for k, v in result.items() if k != "minutes"}))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
