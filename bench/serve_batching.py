"""Load test of the HTTP service: dynamic batching against one sentence per model call.

Starts ``bigru-ner serve`` twice on loopback, once as configured and once with
``NER_MAX_BATCH_SIZE=1``, and drives each with ``wrk`` (a separate C process, so that the
load generator does not compete with the server for the GIL): N connections in a closed loop,
each posting one CoNLL-2003 test sentence as raw text per request. Requests/s and latency
percentiles come from wrk; tokens/s and the mean batch size from the server's own metrics
(``ner_tokens_total`` and ``ner_batch_size`` before and after the run).

    python bench/serve_batching.py --data ../shared/data/conll2003/test.txt \
        --concurrency 64 --duration 30 --json bench/results/serve_batching.json

Needs ``wrk`` on the PATH (Debian/Ubuntu: ``apt-get install wrk``) and ``taskset`` for
``--server-cpus`` / ``--client-cpus``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from model.data import read_conll

SCRIPT = Path(__file__).with_name("tag_requests.lua")
_NO_SPACE_BEFORE = {",", ".", ")", ":", ";", "?", "!", "%", "'s", "n't", "'re", "'ll", "'ve"}


def detokenize(tokens: list[str]) -> str:
    """Natural text from CoNLL tokens: no space before closing punctuation or clitics."""
    out: list[str] = []
    quote_open = glue_next = False
    for token in tokens:
        glue = glue_next or token.lower() in _NO_SPACE_BEFORE
        glue_next = token in {"(", "$"}
        if token == '"':
            glue, glue_next = (True, False) if quote_open else (glue, True)
            quote_open = not quote_open
        if out and not glue:
            out.append(" ")
        out.append(token)
    return "".join(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def _metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{name}{re.escape(labels)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def _pinned(command: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *command] if cpus else command


@dataclass
class WrkReport:
    """What ``tag_requests.lua`` prints when wrk is done (times in microseconds)."""

    requests: int
    duration_us: int
    bytes: int
    errors: dict[str, int]
    latency_us: dict[str, float]


def wrk(url: str, bodies: Path, args: argparse.Namespace, seconds: float) -> WrkReport:
    """One wrk run against ``url``."""
    command = _pinned(
        [
            "wrk",
            f"--threads={args.wrk_threads}",
            f"--connections={args.concurrency}",
            f"--duration={max(1, round(seconds))}s",
            "--timeout=30s",
            f"--script={SCRIPT}",
            url,
            "--",
            str(bodies),
        ],
        args.client_cpus,
    )
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return WrkReport(**json.loads(line.removeprefix("RESULT ")))
    raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")


def run_mode(mode: str, env: dict[str, str], args: argparse.Namespace, bodies: Path) -> Result:
    """Serve with ``env`` on top of the environment, warm up, then measure."""
    port = free_port()
    command = [sys.executable, "-m", "model.cli", "serve", "--port", str(port)]
    if args.model:
        command += ["--model", args.model]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(
            _pinned(command, args.server_cpus),
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while not _ready(url):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"{mode}: server did not become ready:\n{log.read()}")
                time.sleep(0.2)
            wrk(url, bodies, args, args.warmup)
            before = _get(f"{url}/metrics")[1]
            report = wrk(url, bodies, args, args.duration)
            after = _get(f"{url}/metrics")[1]
        finally:
            server.terminate()
            server.wait(timeout=30)

    def delta(name: str) -> float:
        return _metric(after, name) - _metric(before, name)

    seconds = report.duration_us / 1e6
    latency = report.latency_us
    batches = delta("ner_batch_size_count")
    return Result(
        mode=mode,
        concurrency=args.concurrency,
        requests=report.requests,
        errors=sum(report.errors.values()),
        seconds=round(seconds, 2),
        requests_per_s=round(report.requests / seconds, 1),
        tokens_per_s=round(delta("ner_tokens_total") / seconds, 1),
        p50_ms=round(latency["p50"] / 1000, 1),
        p95_ms=round(latency["p95"] / 1000, 1),
        p99_ms=round(latency["p99"] / 1000, 1),
        mean_batch_size=round(delta("ner_batch_size_sum") / batches, 2) if batches else 0.0,
        mean_queue_wait_ms=_mean_ms(
            delta("ner_queue_wait_seconds_sum"), delta("ner_queue_wait_seconds_count")
        ),
        mean_compute_ms=_mean_ms(
            _labelled_sum(after, before, "ner_inference_duration_seconds_sum"), batches
        ),
    )


def _ready(url: str) -> bool:
    try:
        return _get(f"{url}/readyz")[0] == 200
    except OSError:
        return False


def _mean_ms(total: float, count: float) -> float:
    return round(1000 * total / count, 2) if count else 0.0


def _labelled_sum(after: str, before: str, name: str) -> float:
    """A metric summed over its label sets (one per device here)."""
    pattern = rf"^{name}\{{[^}}]*\}} ([0-9.e+-]+)$"

    def total(text: str) -> float:
        return sum(float(v) for v in re.findall(pattern, text, re.MULTILINE))

    return total(after) - total(before)


def machine() -> str:
    """CPU model and count, e.g. ``Intel(R) Xeon(R) Processor, 2 CPUs (x86_64, Linux 6.1)``."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    system = f"{platform.machine()}, {platform.system()} {platform.release()}"
    return f"{model}, {os.cpu_count()} CPUs ({system})"


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
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        bodies = Path(tmp) / "bodies.jsonl"
        texts = [detokenize(s.tokens) for s in read_conll(args.data)]
        bodies.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        results = [
            run_mode("batched", settings, args, bodies),
            run_mode("unbatched", {**settings, "NER_MAX_BATCH_SIZE": "1"}, args, bodies),
        ]
    pinning = f"server on CPUs {args.server_cpus or 'any'}, wrk on CPUs {args.client_cpus or 'any'}"
    print(
        f"{len(texts)} sentences, {args.concurrency} connections, {args.duration:g} s per mode "
        f"after {args.warmup:g} s warm-up; {pinning}; load average at start {load[0]:.2f}"
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
            "load_average_at_start": [round(x, 2) for x in load],
            "command": " ".join(["python", *sys.argv]),
            "load_generator": subprocess.run(
                ["wrk", "--version"], capture_output=True, text=True
            ).stdout.splitlines()[0],
            "pinning": pinning,
            "settings": settings,
            "results": [asdict(r) for r in results],
            "throughput_ratio": round(ratio, 2),
            "target_met": met,
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
