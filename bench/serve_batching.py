"""Load test of the HTTP service: dynamic batching against one sentence per model call.

Starts ``bigru-ner serve`` twice on loopback, once as configured and once with
``NER_MAX_BATCH_SIZE=1``, drives each from this process with N concurrent clients posting
CoNLL-2003 test sentences as raw text (one sentence per request), and reports requests/s,
tokens/s, latency percentiles and the mean batch size read from the server's own metrics.

    python bench/serve_batching.py --data ../shared/data/conll2003/test.txt \
        --concurrency 64 --duration 30 --json bench/results/serve_batching.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from model.data import read_conll

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


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def drive(
    url: str, texts: list[tuple[str, int]], concurrency: int, duration: float
) -> tuple[list[float], int, int, float]:
    """Closed-loop clients for ``duration`` seconds: latencies, tokens, errors, elapsed."""
    latencies: list[float] = []
    counts = {"tokens": 0, "errors": 0}
    stop = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(k: int, http: httpx.AsyncClient) -> None:
        i = k
        while time.perf_counter() < stop:
            text, tokens = texts[i % len(texts)]
            i += concurrency
            started = time.perf_counter()
            try:
                response = await http.post(f"{url}/v1/tag", json={"text": text})
            except httpx.TransportError:
                counts["errors"] += 1
                continue
            latencies.append(time.perf_counter() - started)
            if response.status_code == 200:
                counts["tokens"] += tokens
            else:
                counts["errors"] += 1

    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(k, http) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, counts["tokens"], counts["errors"], elapsed


def run_mode(
    mode: str, env: dict[str, str], args: argparse.Namespace, texts: list[tuple[str, int]]
) -> Result:
    port = free_port()
    command = [sys.executable, "-m", "model.cli", "serve", "--port", str(port)]
    if args.model:
        command += ["--model", args.model]
    server = subprocess.Popen(command, env={**os.environ, **env}, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{mode}: server did not become ready")
        asyncio.run(drive(url, texts, args.concurrency, min(3.0, args.duration)))  # warm-up
        before = httpx.get(f"{url}/metrics").text
        latencies, tokens, errors, elapsed = asyncio.run(
            drive(url, texts, args.concurrency, args.duration)
        )
        after = httpx.get(f"{url}/metrics").text
    finally:
        server.terminate()
        server.wait(timeout=30)
    batches = _metric(after, "ner_batch_size_count") - _metric(before, "ner_batch_size_count")
    sentences = _metric(after, "ner_batch_size_sum") - _metric(before, "ner_batch_size_sum")
    cuts = statistics.quantiles(latencies, n=100)
    return Result(
        mode=mode,
        concurrency=args.concurrency,
        requests=len(latencies),
        errors=errors,
        seconds=round(elapsed, 2),
        requests_per_s=round(len(latencies) / elapsed, 1),
        tokens_per_s=round(tokens / elapsed, 1),
        p50_ms=round(cuts[49] * 1000, 1),
        p95_ms=round(cuts[94] * 1000, 1),
        p99_ms=round(cuts[98] * 1000, 1),
        mean_batch_size=round(sentences / batches, 2) if batches else 0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CoNLL file whose sentences are sent")
    parser.add_argument("--model", help="model directory (default: the bundled BiGRU)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per mode")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    texts = [(detokenize(s.tokens), len(s.tokens)) for s in read_conll(args.data)]
    results = [
        run_mode("batched", {}, args, texts),
        run_mode("unbatched", {"NER_MAX_BATCH_SIZE": "1"}, args, texts),
    ]
    print(
        f"{'mode':<10} {'req/s':>8} {'tok/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
        f"{'batch':>6} {'errors':>6}"
    )
    for r in results:
        print(
            f"{r.mode:<10} {r.requests_per_s:8.1f} {r.tokens_per_s:9.1f} {r.p50_ms:7.1f} "
            f"{r.p95_ms:7.1f} {r.p99_ms:7.1f} {r.mean_batch_size:6.2f} {r.errors:6d}"
        )
    ratio = results[0].tokens_per_s / max(results[1].tokens_per_s, 1e-9)
    print(f"batched / unbatched throughput: {ratio:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
            "command": " ".join(sys.argv),
            "results": [asdict(r) for r in results],
            "throughput_ratio": round(ratio, 2),
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
