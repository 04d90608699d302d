"""Load test of the HTTP service: dynamic batching against one sentence per model call.

Starts ``bigru-ner serve`` twice on loopback, once as configured and once with
``NER_MAX_BATCH_SIZE=1``, and drives each with ``wrk`` (a separate C process, so that the
load generator does not compete with the server for the GIL): N connections in a closed loop,
each posting one CoNLL-2003 test sentence as raw text per request. Requests/s and latency
percentiles come from wrk; tokens/s and the mean batch size from the server's own metrics
(``ner_tokens_total`` and ``ner_batch_size`` before and after the run).

    python -m bench.serve_batching --data ../shared/data/conll2003/test.txt \
        --concurrency 64 --duration 30 --json bench/results/serve_batching.json

Needs ``wrk`` on the PATH (Debian/Ubuntu: ``apt-get install wrk``) and ``taskset`` for
``--server-cpus`` / ``--client-cpus``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.loadgen import (
    Load,
    WrkReport,
    free_port,
    get,
    labelled_sum,
    machine,
    metric,
    pinned,
    serving,
    write_bodies,
    wrk_version,
)
from model.data import read_conll


@dataclass
class Result:
    mode: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    requests_per_s: float
    tokens_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_batch_size: float
    mean_queue_wait_ms: float
    mean_compute_ms: float


def run_mode(
    mode: str, env: dict[str, str], bodies: Path, load: Load, model: str | None = None
) -> Result:
    """Serve with ``env`` on top of the environment, warm up, then measure."""
    port = free_port()
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    if model:
        command += ["--model", model]
    url = f"http://127.0.0.1:{port}"
    with serving(pinned(command, load.server_cpus), f"{url}/readyz", env):
        load.drive(url, bodies, load.warmup)
        before = get(f"{url}/metrics")[1]
        report = load.drive(url, bodies, load.duration)
        after = get(f"{url}/metrics")[1]
    return _result(mode, load.connections, report, before, after)


def _result(mode: str, connections: int, report: WrkReport, before: str, after: str) -> Result:
    def delta(name: str) -> float:
        return metric(after, name) - metric(before, name)

    seconds = report.seconds
    batches = delta("ner_batch_size_count")
    compute = labelled_sum(after, "ner_inference_duration_seconds_sum") - labelled_sum(
        before, "ner_inference_duration_seconds_sum"
    )
    return Result(
        mode=mode,
        concurrency=connections,
        requests=report.requests,
        errors=sum(report.errors.values()),
        seconds=round(seconds, 2),
        requests_per_s=round(report.requests / seconds, 1),
        tokens_per_s=round(delta("ner_tokens_total") / seconds, 1),
        p50_ms=report.ms("p50"),
        p95_ms=report.ms("p95"),
        p99_ms=report.ms("p99"),
        mean_batch_size=round(delta("ner_batch_size_sum") / batches, 2) if batches else 0.0,
        mean_queue_wait_ms=_mean_ms(
            delta("ner_queue_wait_seconds_sum"), delta("ner_queue_wait_seconds_count")
        ),
        mean_compute_ms=_mean_ms(compute, batches),
    )


def _mean_ms(total: float, count: float) -> float:
    return round(1000 * total / count, 2) if count else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CoNLL file whose sentences are sent")
    parser.add_argument("--model", help="model directory (default: the bundled BiGRU)")
    parser.add_argument("--concurrency", type=int, default=64, help="wrk connections")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per mode")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--server-cpus", help="taskset CPU list for the server, e.g. 0")
    parser.add_argument("--client-cpus", help="taskset CPU list for wrk, e.g. 1")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NER_X=V",
        help="setting for both servers (repeatable); NER_MAX_BATCH_SIZE=1 is added for unbatched",
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    for tool in ["wrk"] + (["taskset"] if args.server_cpus or args.client_cpus else []):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not installed (Debian/Ubuntu: apt-get install {tool})")
    settings = dict(item.split("=", 1) for item in args.env)
    load_average = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        sentences = [s.tokens for s in read_conll(args.data) if s.tokens]
        bodies = write_bodies(Path(tmp) / "bodies.jsonl", sentences)
        load = Load(
            args.concurrency,
            args.duration,
            args.warmup,
            args.wrk_threads,
            args.server_cpus,
            args.client_cpus,
        )
        unbatched = {**settings, "NER_MAX_BATCH_SIZE": "1"}
        results = [
            run_mode("batched", settings, bodies, load, args.model),
            run_mode("unbatched", unbatched, bodies, load, args.model),
        ]
    pinning = f"server on CPUs {args.server_cpus or 'any'}, wrk on CPUs {args.client_cpus or 'any'}"
    print(
        f"{len(sentences)} sentences, {args.concurrency} connections, {args.duration:g} s per mode "
        f"after {args.warmup:g} s warm-up; {pinning}; load average at start {load_average[0]:.2f}"
    )
    print(
        f"{'mode':<10} {'req/s':>8} {'tok/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'batch':>6} {'queue ms':>8} {'model ms':>8} {'errors':>6}"
    )
    for r in results:
        print(
            f"{r.mode:<10} {r.requests_per_s:8.1f} {r.tokens_per_s:9.1f} {r.p50_ms:7.1f} "
            f"{r.p95_ms:7.1f} {r.p99_ms:7.1f} {r.mean_batch_size:6.2f} "
            f"{r.mean_queue_wait_ms:8.2f} {r.mean_compute_ms:8.2f} {r.errors:6d}"
        )
    ratio = results[0].requests_per_s / max(results[1].requests_per_s, 1e-9)
    met = ratio >= 4 and results[0].p99_ms < 100
    print(
        f"batched / unbatched throughput: {ratio:.2f}x "
        f"(target: >= 4x with batched p99 < 100 ms: {'met' if met else 'missed'})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "load_average_at_start": [round(x, 2) for x in load_average],
            "command": " ".join(["python", *sys.argv]),
            "load_generator": wrk_version(),
            "pinning": pinning,
            "settings": settings,
            "results": [asdict(r) for r in results],
            "throughput_ratio": round(ratio, 2),
            "target_met": met,
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
