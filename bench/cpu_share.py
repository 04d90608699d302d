"""Where the CPU goes under load: each process of the service, and wrk, per request.

Starts ``bigru-ner serve`` (with ``--service-env`` settings), drives it with wrk for
``--seconds`` after a warm-up, and reads each process's user and system CPU time from
``/proc`` before and after: the server (event loop and its threads), each model process, and
wrk itself. Prints words/s, p99, and per process the share of one core it was busy and its
CPU microseconds per request, so that a change can be judged by what it costs, not only by
what it gains on a machine that the load generator shares.

    python -m bench.cpu_share --data ../shared/data/conll2003/test.txt --connections 64
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from bench.host import cpu_seconds, descendants, machine
from bench.loadgen import Load, write_bodies
from bench.servers import Running, service, serving
from model.data import read_conll


def measure(running: Running, bodies: Path, load: Load) -> dict[str, object]:
    """One wrk run, with the CPU time each process took during it."""
    processes = {"server": running.pid} | {
        f"child {i}": pid for i, pid in enumerate(descendants(running.pid), start=1)
    }
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    # wrk's own CPU: it is our child, so its usage is ours once it has been reaped.
    usage = os.times()
    result = load.drive(running.url, bodies, load.duration)
    after = os.times()
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in processes.items()}
    cpu["wrk"] = (after.children_user - usage.children_user) + (
        after.children_system - usage.children_system
    )
    return {
        "connections": load.connections,
        "requests_per_s": round(result.requests_per_s, 1),
        "words_per_s": round(result.words_per_s),
        "p50_ms": result.ms("p50"),
        "p99_ms": result.ms("p99"),
        "errors": result.errors,
        "busy": {name: round(c / result.seconds, 3) for name, c in cpu.items()},
        "cpu_us_per_request": {
            name: round(1e6 * c / max(result.requests, 1)) for name, c in cpu.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CoNLL file whose sentences are sent")
    parser.add_argument("--connections", default="64", help="comma-separated loads")
    parser.add_argument("--per-request", type=int, default=1, help="sentences a request")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--service-env", action="append", default=[], metavar="NER_X=V")
    parser.add_argument("--tree", type=Path, help="run the service from this source tree")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.service_env)
    sentences = [s.tokens for s in read_conll(args.data) if s.tokens]
    with (
        tempfile.TemporaryDirectory() as tmp,
        serving(service("service", env, args.tree)) as running,
    ):
        bodies = write_bodies(Path(tmp) / "bodies.jsonl", sentences, args.per_request)
        print(json.dumps({"machine": machine(), "env": env, "per_request": args.per_request}))
        for connections in [int(c) for c in args.connections.split(",")]:
            load = Load(connections, args.seconds, args.warmup)
            load.drive(running.url, bodies, load.warmup)
            print(json.dumps(measure(running, bodies, load)))


if __name__ == "__main__":
    main()
