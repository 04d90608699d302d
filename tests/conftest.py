"""Fixtures shared by model and service tests: a synthetic CoNLL corpus and a tiny model."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

FIRST = ["John", "Mary", "Ahmed", "Olga", "Pierre", "Chen", "Lucia", "Kofi"]
LAST = ["Smith", "Ivanova", "Dubois", "Okafor", "Rossi", "Tanaka", "Berg", "Moreau"]
PLACES = ["Paris", "Lagos", "Berlin", "Lima", "Oslo", "Cairo", "Quito", "Perth"]
ORGS = ["Acme Corp", "Globex Inc", "Initech", "Umbrella Group", "Vandelay Industries"]
TEMPLATES = [
    "{per} visited {loc} on Monday .",
    "{org} hired {per} in {loc} .",
    "Shares of {org} rose 5,000 points , said {per} .",
    "In {loc} , {per} met officials from {org} .",
    "{per} said {org} would open an office in {loc} .",
    "The weather in {loc} was cold .",
]


def _tagged(words: str, label: str) -> list[tuple[str, str]]:
    parts = words.split()
    return [(w, ("B-" if i == 0 else "I-") + label) for i, w in enumerate(parts)]


def make_sentences(count: int, seed: int) -> list[list[tuple[str, str]]]:
    """Sentences built from templates, each token with its IOB2 tag."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        template = rng.choice(TEMPLATES)
        fills = {
            "per": _tagged(f"{rng.choice(FIRST)} {rng.choice(LAST)}", "PER"),
            "loc": _tagged(rng.choice(PLACES), "LOC"),
            "org": _tagged(rng.choice(ORGS), "ORG"),
        }
        sentence: list[tuple[str, str]] = []
        for piece in template.split():
            if piece.startswith("{"):
                sentence += fills[piece.strip("{}")]
            else:
                sentence.append((piece, "O"))
        out.append(sentence)
    return out


def write_conll(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    """Write sentences in CoNLL-2003 layout (token, two dummy columns, tag)."""
    lines = ["-DOCSTART- NN O O", ""]
    for sentence in sentences:
        lines += [f"{token} NN O {tag}" for token, tag in sentence]
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_glove(path: Path, words: list[str], dim: int, seed: int = 0) -> Path:
    """A small GloVe-format text file with random vectors."""
    rng = random.Random(seed)
    rows = [" ".join([w] + [f"{rng.uniform(-1, 1):.4f}" for _ in range(dim)]) for w in words]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train and dev files of the synthetic corpus, and a GloVe file covering most words."""
    root = tmp_path_factory.mktemp("corpus")
    train = make_sentences(120, seed=1)
    dev = make_sentences(30, seed=2)
    words = sorted({t.lower() for s in train + dev for t, _ in s})
    return {
        "train": write_conll(root / "train.txt", train),
        "dev": write_conll(root / "dev.txt", dev),
        "glove": write_glove(root / "glove.txt", words[: len(words) * 3 // 4], dim=16),
    }


def tiny_config(corpus: dict[str, Path], out: Path, **overrides: object) -> object:
    """A TrainConfig small enough to train in seconds on the synthetic corpus."""
    from model.training.config import TrainConfig

    values: dict[str, object] = {
        "train": str(corpus["train"]),
        "dev": str(corpus["dev"]),
        "out": str(out),
        "embeddings": str(corpus["glove"]),
        "epochs": 12,
        "patience": 12,
        "batch_size": 8,
        "lr": 0.01,
        "hidden": 24,
        "char_filters": 12,
        "casing_dim": 4,
        "dropout": 0.1,
        "threads": 1,
        "device": "cpu",
    }
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def tiny_model(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BiGRU-CRF artifact trained on the synthetic corpus."""
    from model.training.train import train

    out = tmp_path_factory.mktemp("tiny") / "model"
    train(tiny_config(corpus, out), log=lambda _: None)  # type: ignore[arg-type]
    return out


@pytest.fixture(scope="session")
def tiny_forward_model(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The forward-only twin of :func:`tiny_model`."""
    from model.training.train import train

    out = tmp_path_factory.mktemp("tiny-forward") / "forward-model"
    train(tiny_config(corpus, out, bidirectional=False), log=lambda _: None)  # type: ignore[arg-type]
    return out


#: What the span fixtures are made of: texts of drugs and their doses.
DRUGS = ["Aspirin", "Ibuprofen", "Metformin", "Lisinopril", "Warfarin", "Insulin"]
DOSES = ["50 mg", "2 tablets", "10 ml", "500 mg", "1 g", "3 drops"]
SPAN_TEMPLATES = [
    "Take {dose} of {drug} daily .",
    "The patient was given {drug} , {dose} twice a day .",
    "Stop {drug} if the rash returns .",
    "She takes {dose} of {drug} at night .",
    "No change was made today .",
]


def span_records(count: int, seed: int) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """Texts with the character spans of their DRUG and DOSE entities."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        text, spans = "", []
        for piece in rng.choice(SPAN_TEMPLATES).split():
            word, label = piece, None
            if piece in ("{drug}", "{dose}"):
                label = piece.strip("{}").upper()
                word = rng.choice(DRUGS if label == "DRUG" else DOSES)
            text += " " if text else ""
            if label:
                spans.append((len(text), len(text) + len(word), label))
            text += word
        out.append((text, spans))
    return out


def _train_on_spans(root: Path, out: str, *extra: str) -> Path:
    """A tiny model trained on ``root``'s span files (Doccano's JSONL) of DRUG and DOSE."""
    from model.cli import main

    flags = "--embeddings none --epochs 10 --batch-size 8 --lr 0.01 --hidden 16"
    flags += " --char-filters 8 --casing-dim 4 --dropout 0.1 --threads 1 --device cpu"
    paths = ["--train", str(root / "train.jsonl"), "--dev", str(root / "dev.jsonl")]
    assert main(["train", *paths, "--out", str(root / out), *flags.split(), *extra]) == 0
    return root / out


@pytest.fixture(scope="session")
def drugs_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained from spans (Doccano's JSONL) on DRUG and DOSE; its training and
    dev files beside it (``train.jsonl``, ``dev.jsonl``)."""
    root = tmp_path_factory.mktemp("drugs")
    for name, count, seed in (("train", 100, 1), ("dev", 20, 2)):
        lines = [json.dumps({"text": t, "label": s}) for t, s in span_records(count, seed)]
        (root / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return _train_on_spans(root, "model")


@pytest.fixture(scope="session")
def drugs_forward_model(drugs_model: Path) -> Path:
    """The forward-only twin of :func:`drugs_model`, from the same files."""
    return _train_on_spans(drugs_model.parent, "forward-model", "--no-bidirectional")
