"""Entity F1 of an ensemble of trained BiGRU-CRF runs: a ceiling for what more training buys.

    D=../shared/data/conll2003
    python scripts/ensemble_f1.py --data $D/test.txt runs/ema-bigru-s1 runs/ema-bigru-s2 ...

The runs must share one vocabulary (one recipe, other seeds). Each token takes the tag whose
CRF marginal probability, averaged over the runs, is highest. Prints each run's F1 under that
same decoding, then the ensemble's. Not a shipped model: one network is served.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from model.artifact import LoadedModel, load
from model.data import read_conll
from model.features import encode
from model.training.evaluate import score


def marginals(runs: list[LoadedModel], sentences: list[list[str]]) -> list[torch.Tensor]:
    """Per run, the (B, T, K) tag marginals of the sentences (encoded once: the runs share
    their vocabulary and word length)."""
    batch = encode(sentences, runs[0].vocab, runs[0].network.config.max_word_chars)
    out = []
    for run in runs:
        network = run.network.eval()
        assert network.crf is not None, f"{run.name} has no CRF"
        out.append(network.crf.marginals(network(batch), batch.mask))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data", required=True, type=Path)
    args = parser.parse_args()
    runs = [load(path) for path in args.runs]
    tags = runs[0].vocab.tags
    chars = runs[0].network.config.max_word_chars
    if any(r.vocab != runs[0].vocab or r.network.config.max_word_chars != chars for r in runs):
        parser.error("the runs do not share one vocabulary and word length")
    data = read_conll(args.data)
    gold = [s.tags for s in data]
    predicted: list[list[list[str]]] = [[] for _ in range(len(runs) + 1)]
    with torch.inference_mode():
        for first in range(0, len(data), 256):
            sentences = [s.tokens for s in data[first : first + 256]]
            each = marginals(runs, sentences)
            for k, probs in enumerate([*each, torch.stack(each).mean(0)]):
                best = probs.argmax(-1).tolist()
                predicted[k] += [
                    [tags[t] for t in best[i][: len(s)]] for i, s in enumerate(sentences)
                ]
    for path, tagged in zip(args.runs, predicted, strict=False):
        print(f"{path}: F1 {score(gold, tagged).f1:.4f}")
    print(f"ensemble of {len(runs)}: F1 {score(gold, predicted[-1]).f1:.4f}")


if __name__ == "__main__":
    main()
