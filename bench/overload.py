"""Overload: ``bigru-ner serve`` (bundled BiGRU, CPU) driven at several times its capacity,
then at half of it. Refused requests must come back at once (503 with ``Retry-After``, not a
timeout), accepted ones within a bounded time, memory must stay flat, and the service must
answer everything again as soon as the load drops.

    python -m bench.overload --factor 4 --json bench/results/overload.json

Phases: capacity (32 clients in a closed loop, 15 s); overload (open loop at ``--factor`` x
capacity, 30 s); recovery (open loop at 0.5 x capacity, 20 s). Recovery time is how long
after the overload ended the first full second came in which every request got a 200.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bench.pacedload import Call, closed_loop, open_loop, percentile, rss_mib, run, server, text


def summary(calls: list[Call], skipped: int = 0) -> dict[str, object]:
    ok = [c.seconds for c in calls if c.status == 200]
    refused = [c for c in calls if c.status in {429, 503}]
    return {
        "requests": len(calls),
        "statuses": dict(Counter(c.status for c in calls)),
        "client_skipped": skipped,
        "accepted_p50_ms": percentile(ok, 50),
        "accepted_p99_ms": percentile(ok, 99),
        "accepted_max_ms": round(max(ok) * 1000, 1) if ok else None,
        "refused_p50_ms": percentile([c.seconds for c in refused], 50),
        "refused_p99_ms": percentile([c.seconds for c in refused], 99),
        "refused_without_retry_after": sum(not c.retry_after for c in refused),
    }


def recovery_seconds(calls: list[Call]) -> float | None:
    """Start of the first whole second in which every request sent got a 200."""
    by_second: dict[int, list[int]] = {}
    for call in calls:
        by_second.setdefault(int(call.sent), []).append(call.status)
    for second in sorted(by_second):
        if all(status == 200 for status in by_second[second]):
            return float(second)
    return None


class PeakRss(threading.Thread):
    """Samples the server's resident memory every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=float, default=4.0, help="overload, x capacity")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--sentences", type=int, default=16, help="sentences per request")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rng = random.Random(0)
    bodies = [json.dumps({"text": text(args.sentences, rng)}) for _ in range(500)]
    with server({}) as (url, pid):
        run(closed_loop(url, bodies, 8, 5))  # warm-up
        calls = run(closed_loop(url, bodies, 32, 15))
        capacity = sum(c.status == 200 for c in calls) / 15
        result: dict[str, object] = {"capacity_rps": round(capacity, 1)}
        result["capacity"] = summary(calls)
        rss_before = rss_mib(pid)
        peak = PeakRss(pid)
        peak.start()
        rate = args.factor * capacity
        print(f"capacity {capacity:.1f} req/s; overload at {rate:.1f} req/s", flush=True)
        calls, skipped = run(open_loop(url, bodies, rate, args.seconds))
        result["overload"] = {"rate_rps": round(rate, 1), **summary(calls, skipped)}
        print(json.dumps(result["overload"]), flush=True)
        calls, skipped = run(open_loop(url, bodies, 0.5 * capacity, 20))
        peak.stop.set()
        result["recovery"] = {
            "rate_rps": round(0.5 * capacity, 1),
            **summary(calls, skipped),
            "recovered_after_s": recovery_seconds(calls),
        }
        after = rss_mib(pid)
        result["rss_mib"] = {
            k: round(v, 1)
            for k, v in [("before", rss_before), ("peak", peak.peak), ("after", after)]
        }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
