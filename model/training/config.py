"""What decides a training run: :class:`TrainConfig`, the flags of ``bigru-ner train``."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from model.architecture import Architecture
from model.data import CASES

#: How a run picks the weights it saves (:attr:`TrainConfig.select`).
SELECTIONS = ("best", "last")
#: The tag schemes a network can learn (:attr:`TrainConfig.tag_scheme`).
TAG_SCHEMES = ("iob2", "iobes")
#: The settings that name files: the artifact records their names alone (:meth:`recorded`).
PATH_SETTINGS = ("train", "dev", "out", "embeddings", "embeddings_fill", "lexicon")


@dataclass(frozen=True, kw_only=True)
class Data:
    """What a run learns from and where it writes: CoNLL files, pretrained vectors, output."""

    train: str
    dev: str
    out: str
    embeddings: str | None = "glove-6b-50d"
    #: Keep the most frequent pretrained words beside the training words, so the shipped
    #: model knows words it never saw in training.
    embeddings_limit: int = 200_000
    #: Vectors (any source ``embeddings`` takes) whose words ``embeddings`` lacks get theirs,
    #: mapped by a least-squares linear map fitted on the words both have
    #: (:mod:`model.training.fill`): ``glove-6b-50d`` for the 100-d GloVe of
    #: ``scripts/fetch_glove_100d.py``, which lacks tokens with digits, single letters and
    #: forms such as ``'s``. None: those words start from random rows.
    embeddings_fill: str | None = None
    #: How ``train`` and ``dev`` are read (``model.spans.DATA_FORMATS``): ``auto`` by extension
    #: (``.jsonl``, ``.json``: texts with character spans, as annotation tools export them;
    #: anything else CoNLL columns), ``conll`` or ``spans``.
    data_format: str = "auto"


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """How long a run goes, and in what portions."""

    seed: int = 1
    epochs: int = 30
    #: Epochs without a better dev F1 before the run stops.
    patience: int = 8
    batch_size: int = 32


@dataclass(frozen=True, kw_only=True)
class Optimisation:
    """How each step moves the weights, and which words it hides from them."""

    optimizer: str = "adam"
    lr: float = 0.001
    momentum: float = 0.9
    lr_decay: float = 0.05
    clip: float = 5.0
    #: Probability of replacing a training-set singleton with no pretrained vector by <unk>,
    #: so the <unk> row learns something (Lample et al. 2016).
    unk_replace: float = 0.5
    #: Weight of a language-model loss added to the tag loss: the forward states predict the
    #: next word, the backward ones the previous word (:mod:`model.training.lm`; Rei 2017 weighed
    #: it 0.1). 0: none, and training is exactly what it is without it.
    lm_weight: float = 0.0
    #: The language model predicts the training set's most frequent words, this many, and
    #: every other word as one class (7,500 in Rei's sequence-labeler).
    lm_vocab: int = 7500


@dataclass(frozen=True, kw_only=True)
class TrainConfig(Architecture, Optimisation, Schedule, Data):
    """Everything that decides a training run; stored with checkpoints and in the artifact.

    One flag of ``bigru-ner train`` per field, in this order: the fields of :class:`Data`,
    :class:`Schedule`, :class:`Optimisation` and :class:`~model.network.Architecture`, then
    those below (model selection, lexicon features, where it runs).
    """

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
    #: Which epoch's weights make the artifact: ``best`` on dev (stopping after ``patience``
    #: epochs without one), or ``last`` of ``epochs``: a final model trained on train+dev with
    #: the epoch count fixed from train-only runs, the dev scores then only logged.
    select: str = "best"
    #: The tags the network learns: the data's ``iob2``, or ``iobes`` (single-token entities
    #: and entity ends tagged apart). Predictions and scores are IOB2 either way.
    tag_scheme: str = "iob2"
    #: A lexicon JSON file (``scripts/build_lexicons.py``) whose matches become token features;
    #: it is copied into the artifact.
    lexicon: str | None = None
    #: Probability that a token's lexicon features are zeroed in a training step.
    lexicon_dropout: float = 0.5
    device: str = "auto"
    threads: int | None = None

    def checked_dev_cases(self) -> list[str]:
        """The dev cases, after checking them, the selection, the case probabilities and the
        language-model objective."""
        cases = [c.strip() for c in self.dev_cases.split(",") if c.strip()]
        unknown = [c for c in cases if c not in CASES]
        if not cases or unknown:
            raise ValueError(f"dev_cases {self.dev_cases!r}: give some of {', '.join(CASES)}")
        if self.select not in SELECTIONS:
            raise ValueError(f"select {self.select!r}: one of {', '.join(SELECTIONS)}")
        if self.tag_scheme not in TAG_SCHEMES:
            raise ValueError(f"tag_scheme {self.tag_scheme!r}: one of {', '.join(TAG_SCHEMES)}")
        p = (self.case_lower, self.case_upper)
        if min(p) < 0 or sum(p) > 1:
            raise ValueError(f"case_lower and case_upper {p}: each >= 0, together <= 1")
        if self.lm_weight < 0 or self.lm_vocab < 1:
            w, n = self.lm_weight, self.lm_vocab
            raise ValueError(f"lm_weight {w} and lm_vocab {n}: the weight >= 0, the vocab >= 1")
        if self.lm_weight > 0 and self.bidirectional and self.layers > 1:
            # Above the first layer the forward states read the backward ones of the layer
            # below, which have seen the next word: predicting it would teach nothing.
            raise ValueError("lm_weight needs layers 1 in a bidirectional network")
        return cases

    def recorded(self) -> dict[str, Any]:
        """The settings as the artifact records them: each file by its name alone, since the
        training machine's paths mean nothing where the model is served (and say who ran it)."""
        settings = asdict(self)
        for name in PATH_SETTINGS:
            if settings[name]:
                settings[name] = Path(settings[name]).name
        return settings


def describe_file(path: str | Path, sentences: int) -> dict[str, Any]:
    """What the artifact records of a data file: its name, its SHA-256 and its sentence count,
    enough to tell which data a model was trained on without the machine's paths."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return {"file": Path(path).name, "sha256": digest.hexdigest(), "sentences": sentences}
