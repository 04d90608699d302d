"""Soak test: ``bigru-ner serve`` (bundled BiGRU, CPU) for N minutes at ~70% of its measured
capacity; per minute: requests, errors, latency percentiles and resident memory.

    python -m bench.soak --minutes 5 --json bench/results/soak.json

Capacity is measured first (32 clients in a closed loop for 15 s), unless ``--rate`` gives
the request rate. Passes when no request failed, resident memory (server and model process)
grew by less than 10% from the end of the first minute to the end of the last, and the last
minute's p99 is within 1.5x of the first's.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.pacedload import closed_loop, open_loop, percentile, rss_mib, run, server, text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--load", type=float, default=0.7, help="fraction of capacity")
    parser.add_argument("--rate", type=float, help="requests/s (skips measuring capacity)")
    parser.add_argument("--sentences", type=int, default=16, help="sentences per request")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    rng = random.Random(0)
    bodies = [json.dumps({"text": text(args.sentences, rng)}) for _ in range(500)]
    with server({}) as (url, pid):
        run(closed_loop(url, bodies, 8, 5))  # warm-up
        rate = args.rate
        capacity = None
        if rate is None:
            calls = run(closed_loop(url, bodies, 32, 15))
            capacity = sum(c.status == 200 for c in calls) / 15
            rate = args.load * capacity
        print(f"capacity {capacity} req/s; soaking at {rate:.1f} req/s", flush=True)
        minutes: list[dict[str, Any]] = []
        for minute in range(1, args.minutes + 1):
            calls, skipped = run(open_loop(url, bodies, rate, 60))
            ok = [c.seconds for c in calls if c.status == 200]
            row = {
                "minute": minute,
                "requests": len(calls),
                "errors": len(calls) - len(ok) + skipped,
                "statuses": dict(Counter(c.status for c in calls)),
                "p50_ms": percentile(ok, 50),
                "p99_ms": percentile(ok, 99),
                "rss_mib": round(rss_mib(pid), 1),
            }
            minutes.append(row)
            print(json.dumps(row), flush=True)
    first, last = minutes[0], minutes[-1]
    growth = (last["rss_mib"] - first["rss_mib"]) / first["rss_mib"]
    result = {
        "capacity_rps": capacity,
        "rate_rps": round(rate, 1),
        "sentences_per_request": args.sentences,
        "minutes": minutes,
        "errors": sum(m["errors"] for m in minutes),
        "rss_growth": round(growth, 4),
        "p99_ratio_last_to_first": round((last["p99_ms"] or 0) / (first["p99_ms"] or 1), 2),
    }
    passed = result["errors"] == 0 and growth < 0.10 and result["p99_ratio_last_to_first"] <= 1.5
    result["passed"] = passed
    print(json.dumps({k: v for k, v in result.items() if k != "minutes"}))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
