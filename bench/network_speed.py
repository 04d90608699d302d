"""Section 1 of bench/peers.py: the bundled network alone, against a bare ``nn.GRU``.

The test sentences are sorted by length and cut into batches of B (as the tagger batches
them), encoded before the clock starts; then the network decodes them (emissions, Viterbi
and marginals, tags and probabilities on the host) under ``torch.inference_mode()``. The
ceiling is a bare ``torch.nn.GRU`` of the same sizes (input, hidden, directions) run on
padded inputs of the same shapes. Both go through the same batches in the same seeded order
until the time is up.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from model.features import encode
from model.network import Batch, TaggerNetwork
from model.vocab import Vocab


@dataclass
class ModelSpeed:
    batch_size: int
    tokens_per_s: float
    forward_tokens_per_s: float
    gru_tokens_per_s: float
    ratio: float
    mean_padded_length: float


def batches(
    sentences: Sequence[Sequence[str]], size: int, vocab: Vocab, max_chars: int
) -> list[Batch]:
    """The sentences sorted by length, in encoded batches of ``size``, in a seeded order."""
    ordered = sorted((s for s in sentences if s), key=len)
    out = [encode(ordered[i : i + size], vocab, max_chars) for i in range(0, len(ordered), size)]
    random.Random(size).shuffle(out)
    return out


def _rates(
    runs: Sequence[Callable[[Batch], object]], work: list[Batch], seconds: float
) -> list[float]:
    """Real (unpadded) tokens per second of each run over ``work``, cycled for ``seconds``.

    The runs take turns batch by batch, so that a change in the machine's load (it may be
    shared) shows in all of them alike and not in their ratio.
    """
    for run in runs:
        run(work[0])  # warm-up: first-call allocations
    spent = [0.0] * len(runs)
    tokens, k = 0, 0
    while k == 0 or sum(spent) < seconds:
        batch = work[k % len(work)]
        for i, run in enumerate(runs):
            started = time.perf_counter()
            run(batch)
            spent[i] += time.perf_counter() - started
        tokens += int(batch.lengths.sum())
        k += 1
    return [tokens / s for s in spent]


def _bare(gru: torch.nn.GRU, work: list[Batch], features: int) -> Callable[[Batch], object]:
    """The GRU's forward on a padded (B, T, features) input for each batch, made in advance."""
    inputs = {id(b): torch.randn(*b.words.shape, features) for b in work}
    return lambda batch: gru(inputs[id(batch)])


def measure(
    network: TaggerNetwork,
    vocab: Vocab,
    sentences: Sequence[Sequence[str]],
    sizes: Sequence[int],
    seconds: float,
) -> list[ModelSpeed]:
    """Tokens/s of ``network.decode`` and of a bare GRU, per batch size."""
    config = network.config
    features = config.word_dim + config.char_filters + config.casing_dim
    gru = torch.nn.GRU(
        features,
        config.hidden,
        num_layers=config.layers,
        batch_first=True,
        bidirectional=config.bidirectional,
    ).eval()
    network.eval()

    def decode(batch: Batch) -> object:
        tags, probs = network.decode(batch)
        return tags.numpy().tolist(), probs.numpy().tolist()

    out = []
    with torch.inference_mode():
        for size in sizes:
            work = batches(sentences, size, vocab, config.max_word_chars)
            ours, forward, ceiling = _rates(
                [decode, network, _bare(gru, work, features)], work, seconds
            )
            padded = sum(b.words.size(1) for b in work) / len(work)
            out.append(
                ModelSpeed(
                    size,
                    round(ours, 1),
                    round(forward, 1),
                    round(ceiling, 1),
                    round(ours / ceiling, 3),
                    round(padded, 1),
                )
            )
    return out
