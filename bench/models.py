"""Model artifacts against each other in one run: load time and in-process tagging speed.

    python -m bench.models --data ../shared/data/conll2003/test.txt \\
        /tmp/old/bigru-conll03 model/pretrained/bigru-conll03

Load time is that of ``Tagger.load`` in a fresh process for each try (imports excluded), the
best of ``--loads``. ``--int8`` adds, for each model, a copy whose GRU and output projection are
quantized to int8 after loading (torch's dynamic quantization, CPU only; its load time includes
the quantizing): what that would buy in speed. The service does not quantize. Speed is
bench/peers.py's in-process section (``Tagger.tag`` over the detokenised sentences, words/s,
the best of ``--repeats`` passes), the models taking turns.
Run it with nothing else running.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import warnings
from pathlib import Path

import torch

from bench.host import machine
from bench.inprocess import measure, ours
from bench.loadgen import detokenize
from model.data import read_conll
from model.tagger import Tagger

_LOAD = """
import sys, time
from bench.models import quantized
from model.tagger import Tagger
started = time.perf_counter()
tagger = Tagger.load(sys.argv[1])
if sys.argv[2] == "int8":
    quantized(tagger)
print(time.perf_counter() - started)
"""
INT8 = " (int8)"


def quantized(tagger: Tagger) -> Tagger:
    """The tagger with its GRU and linear layers replaced by dynamically quantized int8 ones."""
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated, and says so
        warnings.simplefilter("ignore")
        network = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            tagger.model.network, {torch.nn.GRU, torch.nn.Linear}, dtype=torch.qint8
        )
    return Tagger(dataclasses.replace(tagger.model, network=network))


def load_seconds(model: str, tries: int) -> float:
    """The best time of ``Tagger.load`` (then quantizing, for a name ending in
    :data:`INT8`) over ``tries`` fresh processes."""
    path, int8 = model.removesuffix(INT8), model.endswith(INT8)
    times = []
    for _ in range(tries):
        result = subprocess.run(
            [sys.executable, "-c", _LOAD, path, "int8" if int8 else "fp32"],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(float(result.stdout.split()[-1]))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="model directories")
    parser.add_argument("--data", required=True, help="CoNLL-2003 file (test.txt)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes (best counts)")
    parser.add_argument("--loads", type=int, default=5, help="fresh processes (best counts)")
    parser.add_argument("--int8", action="store_true", help="also each model quantized to int8")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sentences = [s.tokens for s in read_conll(args.data) if s.tokens]
    texts = [detokenize(s) for s in sentences]
    words = sum(len(s) for s in sentences)
    taggers = {str(m): Tagger.load(m) for m in args.models}
    if args.int8:
        taggers |= {name + INT8: quantized(tagger) for name, tagger in list(taggers.items())}
    systems = {name: ours(tagger) for name, tagger in taggers.items()}
    speeds = measure(systems, texts, words, args.repeats)
    first = speeds[0].words_per_s
    rows = [
        {
            "model": speed.system,
            "load_seconds": round(load_seconds(speed.system, args.loads), 3),
            "words_per_s": speed.words_per_s,
            "speed_vs_first": round(speed.words_per_s / first, 3),
            "entities": speed.entities,
        }
        for speed in speeds
    ]
    print(json.dumps({"machine": machine(), "threads": args.threads, "models": rows}, indent=1))


if __name__ == "__main__":
    main()
