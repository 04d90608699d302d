"""Settings side by side: several servers started at once and driven in turns, so that what
changes on the machine over minutes (other guests of the host, its clock) reaches all alike.

Each ``--server`` is ``fastapi`` (the plain FastAPI peer of bench/peers.py) or a name for the
service followed by its settings, e.g. ``copy:NER_MODEL_IN_SERVER_TOKENS=64``. Every round
drives each server once with the same load (one wrk run after a short warm-up); the servers
not driven sit idle. Prints each run and, per server, the median of the rounds::

    python -m bench.turns --data ../shared/data/conll2003/test.txt --connections 1 \\
        --server fastapi --server copy:NER_MODEL_IN_SERVER_TOKENS=64 \\
        --server none:NER_MODEL_IN_SERVER_TOKENS=0
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.http_load import Server, plain_fastapi, service
from bench.loadgen import Load, free_port, machine, serving, write_bodies
from model.data import read_conll


def parse_server(spec: str) -> Server:
    """``fastapi``, or ``NAME[:NER_X=V,NER_Y=W]`` for the service with those settings."""
    if spec == "fastapi":
        return plain_fastapi()
    name, _, settings = spec.partition(":")
    env = dict(item.split("=", 1) for item in settings.split(",") if item)
    return service(name, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="CoNLL file of the sentences")
    parser.add_argument("--server", action="append", required=True, type=parse_server)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--per-request", type=int, default=1, help="sentences a request")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured, a run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured, before each run")
    parser.add_argument("--json", type=Path, help="write the runs here too")
    args = parser.parse_args()

    sentences = [s.tokens for s in read_conll(args.data) if s.tokens]
    load = Load(args.connections, args.seconds, args.warmup)
    runs: dict[str, list[dict[str, float]]] = {s.name: [] for s in args.server}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as servers:
        bodies = write_bodies(Path(tmp) / "bodies.jsonl", sentences, args.per_request)
        urls = {}
        for server in args.server:
            port = free_port()
            urls[server.name] = f"http://127.0.0.1:{port}"
            servers.enter_context(
                serving(server.argv(port), urls[server.name] + server.ready_path, server.env)
            )
        for round_ in range(args.rounds):
            for name, url in urls.items():
                load.drive(url, bodies, args.warmup)
                report = load.drive(url, bodies, args.seconds)
                run = {
                    "words_per_s": round(report.words_per_s, 1),
                    "p50_ms": report.ms("p50"),
                    "p99_ms": report.ms("p99"),
                    "errors": sum(report.errors.values()),
                }
                runs[name].append(run)
                print(f"round {round_ + 1} {name}: {json.dumps(run)}", flush=True)
    print(f"{machine()}; {args.connections} connections x {args.per_request} sentences")
    for name, results in runs.items():
        medians = {k: round(statistics.median(r[k] for r in results), 2) for k in results[0]}
        print(f"median of {len(results)} {name}: {json.dumps(medians)}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
