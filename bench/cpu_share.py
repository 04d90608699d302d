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
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.loadgen import free_port, machine, serving, write_bodies, wrk
from model.data import read_conll

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def children(pid: int) -> list[int]:
    """The pids of a process's children (the model processes of a server, and others)."""
    done = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split()]


def measure(
    url: str, server: int, bodies: Path, connections: int, seconds: float
) -> dict[str, object]:
    """One wrk run, with the CPU time each process took during it."""
    processes = {"server": server} | {
        f"model {i}": pid for i, pid in enumerate(children(server), start=1)
    }
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    # wrk's own CPU: it is our child, so its usage is ours once it has been reaped.
    usage = os.times()
    result = wrk(url, bodies, connections, seconds)
    after = os.times()
    cpu = {name: cpu_seconds(pid) - before[name] for name, pid in processes.items()}
    cpu["wrk"] = (after.children_user - usage.children_user) + (
        after.children_system - usage.children_system
    )
    return {
        "connections": connections,
        "requests_per_s": round(result.requests / result.seconds, 1),
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
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.service_env)
    sentences = [s.tokens for s in read_conll(args.data) if s.tokens]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    with tempfile.TemporaryDirectory() as tmp, serving(command, f"{url}/readyz", env) as pid:
        bodies = write_bodies(Path(tmp) / "bodies.jsonl", sentences, args.per_request)
        print(json.dumps({"machine": machine(), "env": env, "per_request": args.per_request}))
        for connections in [int(c) for c in args.connections.split(",")]:
            wrk(url, bodies, connections, args.warmup)
            print(json.dumps(measure(url, pid, bodies, connections, args.seconds)))


if __name__ == "__main__":
    main()
