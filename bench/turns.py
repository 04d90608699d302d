"""Settings and versions side by side: several servers started at once and driven in turns,
so that what changes on the machine over minutes (other guests of the host, its clock) reaches
all alike.

Each ``--server`` is ``fastapi`` (the plain FastAPI peer of bench/peers.py) or
``NAME[@TREE][:NER_X=V,...]``: the service named NAME, with those settings, run from the
source tree TREE (a git worktree of another commit, say; its own ``service`` and ``model``
packages are imported, checked before it starts) or from this checkout. Every round drives
each server once with the same load (one wrk run after a short warm-up), in reverse order
every other round; the servers not driven sit idle. Each run reports the CPU time the
server's processes took per request answered. Prints each run, per server the median of the
rounds, and for each server after the first the median of its ratios to the first, round by
round (:func:`paired_ratio`)::

    python -m bench.turns --data ../shared/data/conll2003/test.txt --connections 64 \\
        --server before@/tmp/before --server after --server after-w1:NER_MODEL_WORKERS=1
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from bench.host import machine, tree_cpu_seconds
from bench.loadgen import Load, write_bodies
from bench.servers import Server, parse_server, serving
from model.data import read_conll

#: The figures :func:`main` compares round by round.
PAIRED = ("words_per_s", "p50_ms", "p99_ms", "cpu_us_per_request")


def in_turns(
    servers: Sequence[Server], bodies: Path, load: Load, rounds: int, echo: bool = True
) -> dict[str, list[dict[str, float]]]:
    """Start ``servers`` together, then drive each once a round with ``load`` (a warm-up and a
    measured wrk run each time); each server's runs, in round order."""
    runs: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
    with ExitStack() as started:
        running = {s.name: started.enter_context(serving(s)) for s in servers}
        for round_ in range(rounds):
            # Every other round in reverse: a server driven first in one round goes last in
            # the next, so that what changes within a round does not favour one of them.
            order = list(running.items())[:: -1 if round_ % 2 else 1]
            for name, server in order:
                load.drive(server.url, bodies, load.warmup)
                before = tree_cpu_seconds(server.pid)
                report = load.drive(server.url, bodies, load.duration)
                cpu = tree_cpu_seconds(server.pid) - before
                run = {
                    "words_per_s": round(report.words_per_s, 1),
                    # To 0.01 ms: rounds at one connection differ by tenths of 2 ms.
                    "p50_ms": report.ms("p50", 2),
                    "p99_ms": report.ms("p99", 2),
                    "errors": report.failed,
                    # The server's processes (model processes included) per request answered.
                    "cpu_us_per_request": round(1e6 * cpu / max(report.requests, 1)),
                }
                runs[name].append(run)
                if echo:
                    print(f"round {round_ + 1} {name}: {json.dumps(run)}", flush=True)
    return runs


def paired_ratio(
    runs: dict[str, list[dict[str, float]]], ours: str, theirs: str, key: str = "p50_ms"
) -> float:
    """The median over rounds of ``ours``'s ``key`` over ``theirs``'s in the same round: a
    round's two runs are seconds apart and share the machine's pace, where the runs behind two
    medians can be minutes apart."""
    pairs = zip(runs[ours], runs[theirs], strict=True)
    return statistics.median(a[key] / b[key] for a, b in pairs)


def medians(runs: Sequence[dict[str, float]]) -> dict[str, float]:
    """The median of each figure over a server's runs."""
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}


def _server(spec: str) -> Server:
    try:
        return parse_server(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="CoNLL file of the sentences")
    parser.add_argument(
        "--server",
        action="append",
        required=True,
        type=_server,
        metavar="fastapi|NAME[@TREE][:NER_X=V,...]",
    )
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--per-request", type=int, default=1, help="sentences a request")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured, a run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured, before each run")
    parser.add_argument("--json", type=Path, help="write the runs here too")
    args = parser.parse_args()

    sentences = [s.tokens for s in read_conll(args.data) if s.tokens]
    names = [s.name for s in args.server]
    if len(set(names)) < len(names):
        parser.error(f"two servers of one name: {names}")
    load = Load(args.connections, args.seconds, args.warmup)
    with tempfile.TemporaryDirectory() as tmp:
        bodies = write_bodies(Path(tmp) / "bodies.jsonl", sentences, args.per_request)
        runs = in_turns(args.server, bodies, load, args.rounds)
    print(f"{machine()}; {args.connections} connections x {args.per_request} sentences")
    for name, results in runs.items():
        print(f"median of {len(results)} {name}: {json.dumps(medians(results))}")
    first, *others = runs
    for name in others:
        ratios = {k: round(paired_ratio(runs, name, first, k), 3) for k in PAIRED}
        print(f"{name} / {first}, median of the rounds' ratios: {json.dumps(ratios)}")
    if args.json:
        servers = {s.name: {"tree": str(s.tree or "."), "env": s.env} for s in args.server}
        report = {"machine": machine(), "servers": servers, "runs": runs}
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
