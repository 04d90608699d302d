"""Training: vocabulary and embedding set-up, the epoch loop, model selection and resumption.

The best model on the dev set (entity F1) is written to ``out`` as an artifact after every
improving epoch; ``out/checkpoint/`` holds the latest state (weights, optimiser, RNG, history)
so that a stopped run continues where it stopped.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from model import artifact
from model.data import CASES, Sentence, read_conll, recase
from model.device import resolve_device
from model.embeddings import Vectors, load_vectors
from model.evaluate import Scores, score
from model.features import Encoded, collate, encode_sentence, predict
from model.lexicon import Lexicon
from model.network import TaggerConfig, TaggerNetwork
from model.vocab import Vocab, digit_key, word_key

CHECKPOINT = "checkpoint"


@dataclass
class TrainConfig:
    """Everything that decides a training run; stored with checkpoints and in the artifact."""

    train: str
    dev: str
    out: str
    embeddings: str | None = "glove-6b-50d"
    #: Keep the most frequent pretrained words beside the training words, so the shipped
    #: model knows words it never saw in training.
    embeddings_limit: int = 200_000
    seed: int = 1
    epochs: int = 30
    patience: int = 8
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 0.001
    momentum: float = 0.9
    lr_decay: float = 0.05
    clip: float = 5.0
    #: Probability of replacing a training-set singleton with no pretrained vector by <unk>,
    #: so the <unk> row learns something (Lample et al. 2016).
    unk_replace: float = 0.5
    hidden: int = 200
    layers: int = 1
    bidirectional: bool = True
    crf: bool = True
    char_filters: int = 50
    casing_dim: int = 10
    dropout: float = 0.5
    locked_dropout: bool = False
    #: Decay of an exponential moving average of the weights, which is what gets evaluated
    #: and saved (0: the weights themselves).
    ema: float = 0.0
    #: Probabilities that a training sentence is seen lower-cased, or upper-cased, in an epoch
    #: (drawn anew each epoch; otherwise as written), so that the tagger also copes with text
    #: that arrives in one case (Mayhew et al. 2019).
    case_lower: float = 0.0
    case_upper: float = 0.0
    #: The cases (of ``model.data.CASES``, comma-separated) the dev set is scored in after each
    #: epoch; the model is selected on their mean entity F1.
    dev_cases: str = "as-is"
    #: A lexicon JSON file (``scripts/build_lexicons.py``) whose matches become token features;
    #: it is copied into the artifact.
    lexicon: str | None = None
    #: Probability that a token's lexicon features are zeroed in a training step.
    lexicon_dropout: float = 0.5
    device: str = "auto"
    threads: int | None = None


def build_vocab(
    train: Sequence[Sentence], vectors: Vectors | None, extra: Sequence[Sentence] = ()
) -> Vocab:
    """Training words, plus pretrained words that are frequent or occur in ``extra`` data."""
    extra_words: list[str] = []
    if vectors is not None:
        known = vectors.index()
        extra_words = list(known)
        seen = {word_key(t) for s in extra for t in s.tokens}
        extra_words += [w for w in seen if w in known]
    return Vocab.build(((s.tokens, s.tags) for s in train), extra_words)


def init_embeddings(network: TaggerNetwork, vocab: Vocab, vectors: Vectors, seed: int) -> float:
    """Copy pretrained vectors into the word embedding; return the share of words covered."""
    if vectors.dim != network.config.word_dim:
        raise ValueError(
            f"vectors have {vectors.dim} dims, model expects {network.config.word_dim}"
        )
    known = vectors.index()
    generator = torch.Generator().manual_seed(seed)
    bound = math.sqrt(3.0 / vectors.dim)
    weight = torch.empty(len(vocab.words), vectors.dim).uniform_(-bound, bound, generator=generator)
    weight[0] = 0.0
    found = 0
    for i, word in enumerate(vocab.words[2:], start=2):
        row = known.get(word)
        if row is None:
            row = known.get(digit_key(word))
        if row is not None:
            weight[i] = torch.from_numpy(np.asarray(vectors.matrix[row]))
            found += 1
    with torch.no_grad():
        network.words.weight.copy_(weight)
    return found / max(1, len(vocab.words) - 2)


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


@dataclass
class _State:
    epoch: int = 0
    best_f1: float = -1.0
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def _save_checkpoint(
    path: Path,
    network: TaggerNetwork,
    optimizers: Sequence[torch.optim.Optimizer],
    state: _State,
    config: TrainConfig,
    average: AveragedModel | None = None,
) -> None:
    path.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    if average is not None:
        for k, v in average.state_dict().items():
            tensors[f"average.{k}"] = v.detach().cpu().contiguous()
    groups, scalars = [], []
    for n, optimizer in enumerate(optimizers):
        optim = optimizer.state_dict()
        groups.append(optim["param_groups"])
        numbers: dict[str, dict[str, Any]] = {}
        for index, values in optim["state"].items():
            for name, value in values.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim{n}.{index}.{name}"] = value.detach().cpu().contiguous()
                else:
                    numbers.setdefault(str(index), {})[name] = value
        scalars.append(numbers)
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, str(path / "state.safetensors.tmp"))
    meta = {
        "config": asdict(config),
        "state": asdict(state),
        "param_groups": groups,
        "optim_scalars": scalars,
    }
    (path / "state.json.tmp").write_text(json.dumps(meta), encoding="utf-8")
    (path / "state.safetensors.tmp").replace(path / "state.safetensors")
    (path / "state.json.tmp").replace(path / "state.json")


def _load_checkpoint(
    path: Path,
    network: TaggerNetwork,
    optimizers: Sequence[torch.optim.Optimizer],
    config: TrainConfig,
    average: AveragedModel | None = None,
) -> _State:
    meta = json.loads((path / "state.json").read_text(encoding="utf-8"))
    saved = dict(meta["config"])
    current = asdict(config)
    # Only how long to train may change between a run and its resumption.
    for key in ("epochs", "patience", "device", "threads"):
        saved.pop(key, None)
        current.pop(key, None)
    if saved != current:
        changed = sorted(k for k in current if saved.get(k) != current[k])
        raise ValueError(f"{path}: checkpoint was made with other settings: {changed}")
    tensors = load_file(str(path / "state.safetensors"))
    network.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if average is not None:
        average.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("average.")})
    for n, optimizer in enumerate(optimizers):
        optim_state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith(f"optim{n}."):
                _, index, name = key.split(".", 2)
                optim_state.setdefault(int(index), {})[name] = value
        for index, values in meta["optim_scalars"][n].items():
            optim_state.setdefault(int(index), {}).update(values)
        optimizer.load_state_dict({"state": optim_state, "param_groups": meta["param_groups"][n]})
    torch.set_rng_state(tensors["rng.torch"])
    return _State(**meta["state"])


def _check_cases(config: TrainConfig) -> list[str]:
    """The dev cases of ``config``, after checking them and the case probabilities."""
    cases = [c.strip() for c in config.dev_cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if not cases or unknown:
        raise ValueError(f"dev_cases {config.dev_cases!r}: give some of {', '.join(CASES)}")
    p = (config.case_lower, config.case_upper)
    if min(p) < 0 or sum(p) > 1:
        raise ValueError(f"case_lower and case_upper {p}: each >= 0, together <= 1")
    return cases


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
        tags, _ = predict(network, vocab, [s.tokens for s in sentences], device=device)
        scores[case] = score([s.tags for s in sentences], tags)
    return sum(s.f1 for s in scores.values()) / len(scores), scores


def make_optimizers(network: TaggerNetwork, config: TrainConfig) -> list[torch.optim.Optimizer]:
    """One optimiser for the dense parameters and a lazy (sparse) one for the word embedding.

    ``adam``: Adam and SparseAdam. ``sgd``: SGD with momentum as Ma & Hovy (2016), and plain
    SGD for the embedding rows, since momentum would turn their sparse updates dense.
    """
    dense = [
        p for name, p in network.named_parameters() if p.requires_grad and name != "words.weight"
    ]
    words = [network.words.weight] if network.words.weight.requires_grad else []
    if config.optimizer == "adam":
        optimizers: list[torch.optim.Optimizer] = [torch.optim.Adam(dense, lr=config.lr)]
        if words:
            optimizers.append(torch.optim.SparseAdam(words, lr=config.lr))
        return optimizers
    if config.optimizer == "sgd":
        optimizers = [torch.optim.SGD(dense, lr=config.lr, momentum=config.momentum)]
        if words:
            optimizers.append(torch.optim.SGD(words, lr=config.lr))
        return optimizers
    raise ValueError(f"unknown optimizer {config.optimizer!r} (adam or sgd)")


def train(config: TrainConfig, log: Any = print) -> Scores | None:
    """Train, writing the best-on-dev artifact to ``config.out``; returns its dev scores."""
    if config.threads:
        torch.set_num_threads(config.threads)
    cases = _check_cases(config)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    out = Path(config.out)
    train_data, dev_data = read_conll(config.train), read_conll(config.dev)
    vectors = None
    if config.embeddings:
        vectors = load_vectors(config.embeddings, config.embeddings_limit)
    vocab = build_vocab(train_data, vectors, dev_data)
    if config.lexicon:
        data = json.loads(Path(config.lexicon).read_text(encoding="utf-8"))
        vocab.lexicon = Lexicon.from_json(data, causal=not config.bidirectional)
    model_config = TaggerConfig(
        num_words=len(vocab.words),
        num_chars=len(vocab.chars),
        num_tags=len(vocab.tags),
        word_dim=vectors.dim if vectors is not None else 50,
        char_filters=config.char_filters,
        casing_dim=config.casing_dim,
        hidden=config.hidden,
        layers=config.layers,
        bidirectional=config.bidirectional,
        dropout=config.dropout,
        locked_dropout=config.locked_dropout,
        crf=config.crf,
        lexicon_categories=0 if vocab.lexicon is None else len(vocab.lexicon.categories),
        lexicon_dropout=config.lexicon_dropout if vocab.lexicon is not None else 0.0,
    )
    network = TaggerNetwork(model_config)

    if vectors is not None:
        coverage = init_embeddings(network, vocab, vectors, config.seed)
        log(f"vocab {len(vocab.words)} words, {coverage:.1%} with pretrained vectors")
    network.to(device)
    optimizers = make_optimizers(network, config)
    dense = list(optimizers[0].param_groups[0]["params"])
    average = None
    if config.ema > 0:
        average = AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(config.ema))  # type: ignore[no-untyped-call]
    state = _State()
    checkpoint = out / CHECKPOINT
    if (checkpoint / "state.json").exists():
        state = _load_checkpoint(checkpoint, network, optimizers, config, average)
        log(f"resumed after epoch {state.epoch} (best dev F1 {state.best_f1:.4f})")

    seen_in = {"as-is"}
    seen_in |= {"lower"} if config.case_lower > 0 else set()
    seen_in |= {"upper"} if config.case_upper > 0 else set()
    variants = {
        case: [
            encode_sentence(s.tokens, vocab, model_config.max_word_chars)
            for s in recase(train_data, case)
        ]
        for case in seen_in
    }
    encoded = variants["as-is"]
    gold = [[vocab.tag_index[t] for t in s.tags] for s in train_data]
    counts = Counter(word_key(t) for s in train_data for t in s.tokens)
    pretrained = vectors.index() if vectors is not None else {}
    replaceable = {vocab.word_index[w] for w, n in counts.items() if n == 1 and w not in pretrained}
    replaceable_ids = torch.tensor(sorted(replaceable), dtype=torch.long)

    while state.epoch < config.epochs and state.epoch - state.best_epoch < config.patience:
        epoch = state.epoch + 1
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = config.lr / (1 + config.lr_decay * (epoch - 1))
        generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        # A generator of its own, so that runs without case changes shuffle as before.
        recaser = torch.Generator().manual_seed(config.seed * 100_019 + epoch)
        seen = case_choices(len(encoded), config, recaser)
        network.train()
        started, total = time.perf_counter(), 0.0
        steps = list(batches(encoded, config.batch_size, generator))
        for step in tqdm(steps, desc=f"epoch {epoch}", leave=False, disable=None):
            batch = collate([variants[seen[i]][i] for i in step], [gold[i] for i in step])
            if config.unk_replace > 0 and len(replaceable_ids):
                drop = torch.isin(batch.words, replaceable_ids)
                drop &= torch.rand(batch.words.shape) < config.unk_replace
                batch.words[drop] = 1
            loss = network.loss(batch.to(device))
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            if config.clip > 0:
                torch.nn.utils.clip_grad_norm_(dense, config.clip)
            for optimizer in optimizers:
                optimizer.step()
            if average is not None:
                average.update_parameters(network)
            total += loss.item()
        selected = network if average is None else cast(TaggerNetwork, average.module)
        f1, by_case = dev_f1(selected, vocab, dev_data, cases, device)
        dev = by_case[cases[0]]
        seconds = time.perf_counter() - started
        improved = f1 > state.best_f1
        record: dict[str, Any] = {
            "epoch": epoch,
            "loss": total / len(steps),
            "dev_f1": f1,
            "seconds": seconds,
        }
        if len(cases) > 1:
            record["dev_f1_by_case"] = {c: s.f1 for c, s in by_case.items()}
        state.history.append(record)
        state.epoch = epoch
        each = "".join(f" {c} {s.f1:.4f}" for c, s in by_case.items()) if len(cases) > 1 else ""
        log(
            f"epoch {epoch:3d}  loss {total / len(steps):.4f}  dev P {dev.precision:.4f} "
            f"R {dev.recall:.4f} F1 {f1:.4f}{each}  {seconds:.0f}s" + ("  *" if improved else "")
        )
        if improved:
            state.best_f1, state.best_epoch = f1, epoch
            metadata = {
                "training": asdict(config),
                "best_epoch": epoch,
                "dev": dev.to_json(),
                "dev_by_case": {c: s.to_json() for c, s in by_case.items()},
            }
            artifact.save(out, selected, vocab, metadata)
        _save_checkpoint(checkpoint, network, optimizers, state, config, average)
    if state.best_epoch == 0:
        return None
    best = artifact.load(out, device)
    return dev_f1(best.network, best.vocab, dev_data, cases[:1], device)[1][cases[0]]
