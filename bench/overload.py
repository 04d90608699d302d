"""Overload: ``bigru-ner serve`` (bundled BiGRU, CPU) driven at several times its capacity,
then at half of it. Refused requests must come back at once (503 with ``Retry-After``, not a
timeout), accepted ones within a bounded time, memory must stay flat, and the service must
answer everything again as soon as the load drops.

    python -m bench.overload --factor 4 --json overload.json

Each request is 16 made-up sentences. Phases: capacity (32 connections in a closed loop,
15 s); overload (wrk paced at ``--factor`` x capacity over 256 connections, ``--seconds``);
recovery (paced at 0.5 x capacity, in runs of one second, 20 s). Latency by status (200 or
503) is the server's own (``ner_request_duration_seconds``, to the upper bound of its
bucket); wrk's covers all requests, from their sending. Recovery time is how many whole
seconds after the overload ended the first one came in which every request got a 200.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from bench import scrape
from bench.host import machine, rss_mib
from bench.loadgen import Load, WrkReport, made_up_sentences, write_bodies
from bench.servers import Running, get, service, serving

#: Sentences a request (bench.soak's too).
PER_REQUEST = 16
REQUEST_SECONDS = "ner_request_duration_seconds"


def capacity(running: Running, bodies: Path, seconds: float = 15) -> float:
    """Requests/s answered 200 by 32 connections in a closed loop for ``seconds`` (after a
    third of that unmeasured)."""
    report = Load(32, seconds, seconds / 3).measure(running.url, bodies)
    return (report.requests - report.failed) / report.seconds


def phase(running: Running, bodies: Path, load: Load) -> dict[str, Any]:
    """One paced wrk run: statuses and wrk's latencies, then the server's by status."""
    before = scrape.samples(get(f"{running.url}/metrics")[1])
    report = load.drive(running.url, bodies, load.duration)
    after = scrape.samples(get(f"{running.url}/metrics")[1])
    server = {
        f"{status}_{q}_ms": scrape.histogram_ms(
            before, after, REQUEST_SECONDS, q / 100, endpoint="/v1/tag", status=status
        )
        for status in ("200", "503")
        for q in (50, 99)
    }
    return {"rate_rps": load.rate, **summary(report), "server": server}


def summary(report: WrkReport) -> dict[str, Any]:
    """What a paced run's report says about overload."""
    return {
        "requests": report.requests,
        "statuses": report.statuses,
        "transport_errors": report.failed - report.errors["status"],
        "refused_without_retry_after": report.refused_without_retry_after,
        "skipped": report.skipped,
        "p50_ms": report.ms("p50"),
        "p99_ms": report.ms("p99"),
        "max_ms": report.ms("max"),
    }


def recovery(running: Running, bodies: Path, rate: float, seconds: int) -> dict[str, Any]:
    """``seconds`` one-second paced runs at ``rate``: the first in which every answer was a
    200, and the statuses of all."""
    load = Load(64, 1, 0, rate=rate)
    runs = [load.drive(running.url, bodies, 1) for _ in range(seconds)]
    clean = [i for i, r in enumerate(runs) if r.requests and r.statuses["200"] == r.requests]
    statuses: dict[str, int] = {}
    for run in runs:
        for status, n in run.statuses.items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "rate_rps": rate,
        "statuses": statuses,
        "p99_ms_worst_second": max(r.ms("p99") for r in runs),
        "recovered_after_s": clean[0] if clean else None,
    }


class PeakRss(threading.Thread):
    """Samples the server's resident memory (its model processes too) every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            self.stop.wait(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factor", type=float, default=4.0, help="overload, x capacity")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--recovery-seconds", type=int, default=20)
    parser.add_argument("--capacity-seconds", type=float, default=15)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--tree", type=Path, help="run the service from this source tree")
    args = parser.parse_args()
    sentences = made_up_sentences(500 * PER_REQUEST)
    command = " ".join(["python -m", __spec__.name, *sys.argv[1:]])
    result: dict[str, Any] = {"machine": machine(), "command": command}
    with (
        tempfile.TemporaryDirectory() as tmp,
        serving(service("service", tree=args.tree)) as running,
    ):
        bodies = write_bodies(Path(tmp) / "bodies.jsonl", sentences, PER_REQUEST)
        rate = capacity(running, bodies, args.capacity_seconds)
        result["capacity_rps"] = round(rate, 1)
        print(f"capacity {rate:.1f} req/s; overload at {args.factor * rate:.1f}", flush=True)
        rss_before = rss_mib(running.pid)
        peak = PeakRss(running.pid)
        peak.start()
        load = Load(256, args.seconds, 0, rate=round(args.factor * rate, 1))
        result["overload"] = phase(running, bodies, load)
        print(json.dumps(result["overload"]), flush=True)
        half = round(0.5 * rate, 1)
        result["recovery"] = recovery(running, bodies, half, args.recovery_seconds)
        peak.stop.set()
        result["rss_mib"] = {
            "before": round(rss_before, 1),
            "peak": round(peak.peak, 1),
            "after": round(rss_mib(running.pid), 1),
        }
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
