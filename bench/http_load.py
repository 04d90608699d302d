"""Section 3 and 4 of bench/peers.py: the HTTP service and other servers under wrk load.

Every server hosts the bundled BiGRU with one torch thread and runs its model apart from its
HTTP event loop (the service and LitServe in a worker process, plain FastAPI in its thread
pool), one HTTP process each. For each load (single-sentence requests at several connection
counts, and 32-sentence requests) a server gets an unmeasured warm-up, then a measured wrk
run. Words/s count the CoNLL words of the answered requests; the service's own metrics add
its mean batch size.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import Load, WrkReport, free_port, get, metric, serving

#: How to start bench/peer_servers.py (from the repository root, as the benchmarks run).
PEER_SERVERS = (sys.executable, "-m", "bench.peer_servers")


@dataclass(frozen=True)
class Server:
    """How to start one server on a port, and where it says it is ready."""

    name: str
    command: tuple[str, ...]
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    #: The service exposes Prometheus metrics (batch sizes) at /metrics.
    ours: bool = False

    def argv(self, port: int) -> list[str]:
        return [part.replace("{port}", str(port)) for part in self.command]


def service(name: str, env: dict[str, str]) -> Server:
    serve = (sys.executable, "-m", "service.cli", "serve", "--port", "{port}")
    return Server(name, serve, "/readyz", env, ours=True)


def litserve(max_batch_size: int, batch_timeout: float) -> Server:
    command = (
        *PEER_SERVERS,
        "litserve",
        "--port",
        "{port}",
        "--max-batch-size",
        str(max_batch_size),
        "--batch-timeout",
        str(batch_timeout),
    )
    return Server(
        f"litserve (batch {max_batch_size}, {batch_timeout * 1000:g} ms)", command, "/health"
    )


def plain_fastapi() -> Server:
    command = (*PEER_SERVERS, "fastapi", "--port", "{port}")
    return Server("plain fastapi", command, "/health")


@dataclass(frozen=True)
class Workload:
    """A file of request bodies and how many connections send them."""

    name: str
    bodies: Path
    connections: int
    sentences_per_request: int


@dataclass
class HttpResult:
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


def run_server(server: Server, workloads: Sequence[Workload], load: Load) -> list[HttpResult]:
    """Start ``server`` once and drive it with each workload in turn."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    results = []
    with serving(server.argv(port), url + server.ready_path, server.env):
        for work in workloads:
            drive = Load(work.connections, load.duration, load.warmup, load.wrk_threads)
            drive.drive(url, work.bodies, load.warmup)
            before = get(f"{url}/metrics")[1] if server.ours else ""
            report = drive.drive(url, work.bodies, load.duration)
            after = get(f"{url}/metrics")[1] if server.ours else ""
            results.append(_result(server, work, report, before, after))
    return results


def _result(
    server: Server, work: Workload, report: WrkReport, before: str, after: str
) -> HttpResult:
    batch_size = None
    if server.ours:
        calls = metric(after, "ner_batch_size_count") - metric(before, "ner_batch_size_count")
        total = metric(after, "ner_batch_size_sum") - metric(before, "ner_batch_size_sum")
        batch_size = round(total / calls, 2) if calls else 0.0
    return HttpResult(
        server=server.name,
        workload=work.name,
        connections=work.connections,
        sentences_per_request=work.sentences_per_request,
        requests=report.requests,
        errors=sum(report.errors.values()),
        error_kinds={kind: n for kind, n in report.errors.items() if n},
        seconds=round(report.seconds, 2),
        requests_per_s=round(report.requests / report.seconds, 1),
        words_per_s=round(report.words_per_s, 1),
        p50_ms=report.ms("p50"),
        p95_ms=report.ms("p95"),
        p99_ms=report.ms("p99"),
        mean_batch_size=batch_size,
    )
