"""Training: the epoch loop, model selection on the dev set, and resumption.

The best model on the dev set (entity F1) is written to ``out`` as an artifact after every
improving epoch (after every epoch for ``select="last"``); ``out/checkpoint/``
(:mod:`model.training.checkpoint`) holds the latest state so that a stopped run continues where
it stopped.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from model import artifact
from model.data import Sentence, iob2_to_iobes, recase
from model.device import resolve_device
from model.features import Encoded, collate, encode_sentence, tag_sentences
from model.lexicon import Lexicon
from model.network import Batch, TaggerNetwork
from model.spans import read_data
from model.training import checkpoint
from model.training.config import TrainConfig, describe_file
from model.training.embeddings import Vectors
from model.training.evaluate import Scores, score
from model.training.lm import LanguageModelHead, language_model
from model.training.prepare import (
    build_vocab,
    init_embeddings,
    make_optimizers,
    network_config,
    pretrained_vectors,
)
from model.vocab import Vocab, word_key


def batches(
    data: Sequence[Encoded], batch_size: int, generator: torch.Generator
) -> Iterator[list[int]]:
    """Shuffled batches of similar-length sentences (sorted within pools of 50 batches)."""
    order = torch.randperm(len(data), generator=generator).tolist()
    pool = batch_size * 50
    chunks: list[list[int]] = []
    for first in range(0, len(order), pool):
        part = sorted(order[first : first + pool], key=lambda i: len(data[i].words))
        chunks += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    for k in torch.randperm(len(chunks), generator=generator).tolist():
        yield chunks[k]


def case_choices(count: int, config: TrainConfig, generator: torch.Generator) -> list[str]:
    """For each of ``count`` training sentences, the case it is seen in this epoch."""
    if config.case_lower == 0 and config.case_upper == 0:
        return ["as-is"] * count
    draws = torch.rand(count, generator=generator).tolist()
    lower, upper = config.case_lower, config.case_lower + config.case_upper
    return ["lower" if u < lower else "upper" if u < upper else "as-is" for u in draws]


def dev_f1(
    network: TaggerNetwork,
    vocab: Vocab,
    dev_data: Sequence[Sentence],
    cases: Sequence[str],
    device: torch.device,
) -> tuple[float, dict[str, Scores]]:
    """Mean entity F1 over the dev set written in each of ``cases``, and each case's scores."""
    scores = {}
    for case in cases:
        sentences = recase(dev_data, case)
        tagged = tag_sentences(network, vocab, [s.tokens for s in sentences], device)
        tags = [p.tags for p in tagged]
        scores[case] = score([s.tags for s in sentences], tags)
    return sum(s.f1 for s in scores.values()) / len(scores), scores


@dataclass
class TrainingSet:
    """The training sentences encoded once in each case a run sees them, and their tag ids."""

    #: The encoded sentences in each case ("as-is" always; "lower", "upper" when drawn).
    by_case: dict[str, list[Encoded]]
    tag_ids: list[list[int]]
    #: Ids of the words that ``unk_replace`` may turn into <unk>: training-set singletons
    #: without a pretrained vector.
    replaceable: torch.Tensor

    @classmethod
    def encode(
        cls,
        sentences: Sequence[Sentence],
        vocab: Vocab,
        config: TrainConfig,
        max_chars: int,
        vectors: Vectors | None,
    ) -> TrainingSet:
        """``sentences`` as ids, in the cases ``config`` draws them in."""
        seen_in = {"as-is"}
        seen_in |= {"lower"} if config.case_lower > 0 else set()
        seen_in |= {"upper"} if config.case_upper > 0 else set()
        by_case = {
            case: [encode_sentence(s.tokens, vocab, max_chars) for s in recase(sentences, case)]
            for case in seen_in
        }
        tag_ids = [[vocab.tag_index[t] for t in s.tags] for s in sentences]
        counts = Counter(word_key(t) for s in sentences for t in s.tokens)
        pretrained = vectors.index() if vectors is not None else {}
        singletons = {
            vocab.word_index[w] for w, n in counts.items() if n == 1 and w not in pretrained
        }
        return cls(by_case, tag_ids, torch.tensor(sorted(singletons), dtype=torch.long))

    def batch(self, step: Sequence[int], cases: Sequence[str], unk_replace: float) -> Batch:
        """The sentences ``step`` in the cases drawn for them, some singletons made <unk>."""
        batch = collate([self.by_case[cases[i]][i] for i in step], [self.tag_ids[i] for i in step])
        if unk_replace > 0 and len(self.replaceable):
            drop = torch.isin(batch.words, self.replaceable)
            drop &= torch.rand(batch.words.shape) < unk_replace
            batch.words[drop] = 1
        return batch


def _train_epoch(
    epoch: int,
    network: TaggerNetwork,
    optimizers: Sequence[torch.optim.Optimizer],
    average: AveragedModel | None,
    data: TrainingSet,
    config: TrainConfig,
    device: torch.device,
    lm: LanguageModelHead | None = None,
) -> dict[str, float]:
    """One pass over the training set; the mean tag loss per batch (``loss``), and with a
    language model its own mean loss, unweighted (``lm_loss``)."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = config.lr / (1 + config.lr_decay * (epoch - 1))
    dense = list(optimizers[0].param_groups[0]["params"])
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    # A generator of its own, so that runs without case changes shuffle as before.
    recaser = torch.Generator().manual_seed(config.seed * 100_019 + epoch)
    cases = case_choices(len(data.tag_ids), config, recaser)
    network.train()
    totals: defaultdict[str, float] = defaultdict(float)
    steps = list(batches(data.by_case["as-is"], config.batch_size, generator))
    for step in tqdm(steps, desc=f"epoch {epoch}", leave=False, disable=None):
        batch = data.batch(step, cases, config.unk_replace).to(device)
        states = None if lm is None else network.states(batch)  # one pass for both objectives
        loss = network.loss(batch, states)
        totals["loss"] += loss.item()
        if lm is not None and states is not None:
            lm_loss = lm(states, batch.words, batch.lengths)
            totals["lm_loss"] += lm_loss.item()
            loss = loss + config.lm_weight * lm_loss
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        if config.clip > 0:
            torch.nn.utils.clip_grad_norm_(dense, config.clip)
        for optimizer in optimizers:
            optimizer.step()
        if average is not None:
            average.update_parameters(network)
    return {name: total / len(steps) for name, total in totals.items()}


def train(config: TrainConfig, log: Any = print) -> Scores | None:
    """Train, writing the best-on-dev artifact to ``config.out``; returns its dev scores."""
    if config.threads:
        torch.set_num_threads(config.threads)
    cases = config.checked_dev_cases()
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    out = Path(config.out)
    train_data = read_data(config.train, config.data_format, log)
    dev_data = read_data(config.dev, config.data_format, log)
    if config.tag_scheme == "iobes":  # dev stays IOB2: predictions are given out in IOB2
        train_data = [Sentence(s.tokens, iob2_to_iobes(s.tags)) for s in train_data]
    vectors = pretrained_vectors(config, log)
    vocab = build_vocab(train_data, vectors, dev_data)
    if config.lexicon:
        lexicon = json.loads(Path(config.lexicon).read_text(encoding="utf-8"))
        vocab.lexicon = Lexicon.from_json(lexicon, causal=not config.bidirectional)
    network = TaggerNetwork(network_config(config, vocab, vectors))
    if vectors is not None:
        coverage = init_embeddings(network, vocab, vectors, config.seed)
        log(f"vocab {len(vocab.words)} words, {coverage:.1%} with pretrained vectors")
    network.to(device)
    data = TrainingSet.encode(train_data, vocab, config, network.config.max_word_chars, vectors)
    lm = language_model(config, network.config, (i for s in data.by_case["as-is"] for i in s.words))
    if lm is not None:
        lm.to(device)
    optimizers = make_optimizers(network, config, () if lm is None else lm.parameters())
    average = None
    if config.ema > 0:
        average = AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(config.ema))  # type: ignore[no-untyped-call]
    progress = checkpoint.Progress()
    saved = out / checkpoint.CHECKPOINT
    if checkpoint.exists(saved):
        progress = checkpoint.load(saved, network, optimizers, config, average, lm)
        log(f"resumed after epoch {progress.epoch} (best dev F1 {progress.best_f1:.4f})")

    files = {
        "train": describe_file(config.train, len(train_data)),
        "dev": describe_file(config.dev, len(dev_data)),
    }
    last = config.select == "last"
    while progress.epoch < config.epochs and (
        last or progress.epoch - progress.best_epoch < config.patience
    ):
        epoch = progress.epoch + 1
        started = time.perf_counter()
        losses = _train_epoch(epoch, network, optimizers, average, data, config, device, lm)
        selected = network if average is None else cast(TaggerNetwork, average.module)
        f1, by_case = dev_f1(selected, vocab, dev_data, cases, device)
        dev = by_case[cases[0]]
        seconds = time.perf_counter() - started
        kept = f1 > progress.best_f1 or last
        record: dict[str, Any] = {"epoch": epoch, **losses, "dev_f1": f1, "seconds": seconds}
        if len(cases) > 1:
            record["dev_f1_by_case"] = {c: s.f1 for c, s in by_case.items()}
        progress.history.append(record)
        progress.epoch = epoch
        each = "".join(f" {c} {s.f1:.4f}" for c, s in by_case.items()) if len(cases) > 1 else ""
        language = f"  lm {losses['lm_loss']:.4f}" if "lm_loss" in losses else ""
        log(
            f"epoch {epoch:3d}  loss {losses['loss']:.4f}{language}  dev P {dev.precision:.4f} "
            f"R {dev.recall:.4f} F1 {f1:.4f}{each}  {seconds:.0f}s" + ("  *" if kept else "")
        )
        if kept:
            progress.best_f1, progress.best_epoch = f1, epoch
            metadata = {
                "training": config.recorded(),
                "data": files,
                "best_epoch": epoch,
                "dev": dev.to_json(),
                "dev_by_case": {c: s.to_json() for c, s in by_case.items()},
            }
            artifact.save(out, selected, vocab, metadata)
        checkpoint.save(saved, network, optimizers, progress, config, average, lm)
    if progress.best_epoch == 0:
        return None
    best = artifact.load(out, device)
    return dev_f1(best.network, best.vocab, dev_data, cases[:1], device)[1][cases[0]]
