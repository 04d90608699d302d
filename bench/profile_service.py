"""Where the service spends its time under load: py-spy on both of its processes.

Starts ``bigru-ner serve``, drives it with wrk (``--per-request`` test sentences a request,
one by default), and samples the server process (event loop) and the model process with
``py-spy record`` meanwhile. Prints, for each, how busy it was (samples taken / samples
possible) and the functions with the most samples, callees included.

    python -m bench.profile_service --data ../shared/data/conll2003/test.txt --connections 64

Needs py-spy (the ``bench`` extra), wrk, and permission to trace the server (root, or
``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.cpu_share import children, cpu_seconds
from bench.loadgen import SCRIPT, free_port, serving, write_bodies, wrk
from model.data import read_conll


def _server_pids(port: int) -> tuple[int, int]:
    """The process listening on ``port`` and its model process: of its children (the model
    process, multiprocessing's resource tracker), the one that has used the most CPU."""
    done = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    server = int(done.stdout.split("pid=")[1].split(",")[0])
    return server, max(children(server), key=cpu_seconds)


def top_frames(raw: Path, count: int) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Samples in a py-spy ``raw`` file, the functions in most of them (callees included),
    and the functions most often running themselves (the innermost frame)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():  # a blank line (a process with no samples writes one)
            continue
        total += int(samples)
        frames = [f.split(" (")[0] + _where(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] += int(samples)
        own[frames[-1]] += int(samples)
    return total, inclusive.most_common(count), own.most_common(count)


def _where(frame: str) -> str:
    """`` (file.py)`` of a py-spy frame ``name (path/file.py:line)``."""
    _, _, place = frame.partition(" (")
    return f" ({Path(place.split(':')[0]).name})" if place else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CoNLL file whose sentences are sent")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--per-request", type=int, default=1, help="sentences a request")
    parser.add_argument("--seconds", type=float, default=10.0, help="sampled seconds")
    parser.add_argument("--rate", type=int, default=200, help="samples per second")
    parser.add_argument("--top", type=int, default=30, help="functions listed per process")
    args = parser.parse_args()
    sentences = [s.tokens for s in read_conll(args.data) if s.tokens]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    with tempfile.TemporaryDirectory() as tmp, serving(command, f"{url}/readyz"):
        bodies = write_bodies(Path(tmp) / "bodies.jsonl", sentences, args.per_request)
        wrk(url, bodies, args.connections, 2)  # warm-up
        pids = dict(zip(["event loop", "model process"], _server_pids(port), strict=True))
        seconds = round(args.seconds + 4)
        load = subprocess.Popen(
            ["wrk", f"-c{args.connections}", "-t1", f"-d{seconds}s", f"-s{SCRIPT}", url, "--"]
            + [str(bodies)],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(2)
        spies = {
            name: (
                Path(tmp) / f"{pid}.txt",
                subprocess.Popen(
                    ["py-spy", "record", "-p", str(pid), "-d", str(round(args.seconds))]
                    + ["-r", str(args.rate), "-f", "raw", "-o", str(Path(tmp) / f"{pid}.txt")]
                    + ["--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
            )
            for name, pid in pids.items()
        }
        for _, spy in spies.values():
            spy.wait()
        load.wait()
        for name, (raw, _) in spies.items():
            total, frames, own = top_frames(raw, args.top)
            busy = total / (args.rate * args.seconds)
            print(f"{name}: {total} samples, busy {busy:.0%}; callees included:")
            for frame, samples in frames:
                print(f"  {samples / total:6.1%}  {frame}")
            print(f"{name}, the innermost frame:")
            for frame, samples in own:
                print(f"  {samples / total:6.1%}  {frame}")


if __name__ == "__main__":
    main()
