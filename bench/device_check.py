"""The CUDA path in one run, for a machine with a GPU: the model alone at batch 1 to 512 on
the GPU and on the CPU, then ``bigru-ner serve`` on the GPU under 64 and 256 connections,
and whether its latency metrics carry the device and plausible values.

    python -m bench.device_check --data ../shared/data/conll2003/test.txt --json out.json

The metric checks: every batch's model time is counted under ``device="cuda"`` (no series
with another device has any), as many batches as ``ner_batch_size`` counted, each batch's
mean model time above zero and below the clients' p99; the queue waits are counted once per
sentence tagged, and ``ner_model_info`` names the device. Exits 1 if any check fails. The
load comes from wrk, as in every HTTP benchmark (that machine needs the ``wrk`` binary and
its LuaJIT library). ``--device cpu`` runs the same on a machine without one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from bench import scrape
from bench.host import machine
from bench.loadgen import Load, write_bodies
from bench.network_speed import batches
from bench.servers import get, service, serving
from model.data import read_conll
from model.device import resolve_device
from model.tagger import Tagger
from service.core.backend import device_name


def model_alone(
    device: torch.device, sentences: list[list[str]], sizes: Sequence[int], seconds: float
) -> list[dict[str, Any]]:
    """Tokens/s of ``network.decode`` (tags and probabilities on the host) per batch size,
    on ``device`` and on the CPU (the bundled model loaded on each), taking turns batch by
    batch."""
    taggers = [Tagger.load(device=device), Tagger.load(device="cpu")]
    vocab, config = taggers[0].model.vocab, taggers[0].model.network.config
    out = []
    for size in sizes:
        work = batches(sentences, size, vocab, config.max_word_chars)
        spent = [0.0, 0.0]
        tokens = k = 0
        with torch.inference_mode():
            for tagger in taggers:  # warm-up: kernels chosen, memory taken
                tagger.model.network.decode(work[0].to(tagger.device))
            while k < 2 or sum(spent) < seconds:
                batch = work[k % len(work)]
                for i, tagger in enumerate(taggers):
                    started = time.perf_counter()
                    tags, probs = tagger.model.network.decode(batch.to(tagger.device))
                    tags.cpu(), probs.cpu()  # waits for the kernels
                    spent[i] += time.perf_counter() - started
                tokens += int(batch.lengths.sum())
                k += 1
        rates = [tokens / s for s in spent]
        out.append(
            {
                "batch": size,
                "device": device_name(device),
                "device_tokens_per_s": round(rates[0]),
                "cpu_tokens_per_s": round(rates[1]),
                "ratio": round(rates[0] / rates[1], 2),
            }
        )
    return out


def metric_checks(metrics: str, device: str, p99_seconds: float) -> list[dict[str, Any]]:
    """Whether the service's ``/metrics`` page shows its batches computed on ``device`` with
    plausible times, after a load whose slowest requests took ``p99_seconds``."""
    samples = scrape.samples(metrics)
    total = scrape.total
    inference = "ner_inference_duration_seconds"
    batches_run = total(samples, "ner_batch_size_count")
    count = total(samples, f"{inference}_count", device=device)
    elsewhere = {
        got["device"]: value
        for got, value in samples.get(f"{inference}_count", [])
        if got.get("device") != device and value > 0
    }
    mean = total(samples, f"{inference}_sum", device=device) / count if count else 0.0
    waits = total(samples, "ner_queue_wait_seconds_count")
    tagged = total(samples, "ner_batch_size_sum")
    info = [got for got, v in samples.get("ner_model_info", []) if v == 1]
    checks = [
        (f'model time counted under device="{device}"', count > 0, f"{count:.0f} batches"),
        ("no model time under another device", not elsewhere, f"{elsewhere or 'none'}"),
        ("every batch counted once", count == batches_run, f"{count:.0f} of {batches_run:.0f}"),
        (
            "mean model time a batch above 0 and below the clients' p99",
            0 < mean < p99_seconds,
            f"{mean * 1000:.2f} ms against p99 {p99_seconds * 1000:.1f} ms",
        ),
        ("one queue wait per sentence tagged", waits == tagged > 0, f"{waits:.0f} of {tagged:.0f}"),
        (
            f'ner_model_info names device="{device}"',
            any(got.get("device") == device for got in info),
            f"{[got.get('device') for got in info]}",
        ),
    ]
    return [{"check": name, "ok": bool(ok), "detail": detail} for name, ok, detail in checks]


def service_under_load(
    sentences: list[list[str]], device: str, connections: Sequence[int], seconds: float
) -> dict[str, Any]:
    """``bigru-ner serve --device DEVICE``, one sentence a request over N connections; its
    throughput and latency at each N, then its metrics checked."""
    loads = []
    with tempfile.TemporaryDirectory() as tmp, serving(service("service", device=device)) as up:
        bodies = write_bodies(Path(tmp) / "bodies.jsonl", sentences)
        Load(8).drive(up.url, bodies, 3)  # warm-up
        for n in connections:
            report = Load(n).drive(up.url, bodies, seconds)
            loads.append(
                {
                    "connections": n,
                    "requests_per_s": round(report.requests_per_s, 1),
                    "errors": report.failed,
                    "p50_ms": report.ms("p50"),
                    "p99_ms": report.ms("p99"),
                }
            )
        status, metrics = get(f"{up.url}/metrics")
    worst = max(load["p99_ms"] for load in loads) / 1000
    checks = metric_checks(metrics, device, worst) if status == 200 else []
    return {"loads": loads, "metric_checks": checks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="CoNLL file whose sentences are used")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--batch-sizes", default="1,8,64,256,512")
    parser.add_argument("--model-seconds", type=float, default=4.0, help="per batch size")
    parser.add_argument("--connections", default="64,256")
    parser.add_argument("--seconds", type=float, default=15.0, help="per load")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = resolve_device(args.device)
    sentences = [s.tokens for s in read_conll(args.data) if s.tokens]
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "command": " ".join(["python", *sys.argv]),
    }
    sizes = [int(n) for n in args.batch_sizes.split(",")]
    report["model"] = model_alone(device, sentences, sizes, args.model_seconds)
    print(json.dumps(report["model"]), flush=True)
    connections = [int(n) for n in args.connections.split(",")]
    report["service"] = service_under_load(
        sentences, device_name(device), connections, args.seconds
    )
    print(json.dumps(report["service"], indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    checks = report["service"]["metric_checks"]
    return 0 if checks and all(c["ok"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
