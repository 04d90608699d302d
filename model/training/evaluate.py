"""Entity-level evaluation with conlleval rules (seqeval), plus token accuracy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import torch

from model.artifact import LoadedModel
from model.data import Sentence
from model.features import tag_sentences


@dataclass
class TypeScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Scores:
    """Micro-averaged entity scores (fractions in 0..1), per-type scores and token accuracy."""

    precision: float
    recall: float
    f1: float
    token_accuracy: float
    sentences: int
    tokens: int
    per_type: dict[str, TypeScore]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        """A plain-text report like conlleval's."""
        lines = [
            f"sentences {self.sentences}  tokens {self.tokens}  "
            f"token accuracy {self.token_accuracy:.4f}",
            f"{'type':<8} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}",
        ]
        for label, s in sorted(self.per_type.items()):
            lines.append(
                f"{label:<8} {s.precision:9.4f} {s.recall:9.4f} {s.f1:9.4f} {s.support:8d}"
            )
        support = sum(s.support for s in self.per_type.values())
        lines.append(
            f"{'overall':<8} {self.precision:9.4f} {self.recall:9.4f} {self.f1:9.4f} {support:8d}"
        )
        return "\n".join(lines)


def parse_label_map(text: str) -> dict[str, str]:
    """``person=PER,location=LOC`` as a mapping from the data's entity types to the model's."""
    mapping = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        source, sep, target = (side.strip() for side in pair.partition("="))
        if not (sep and source and target):
            raise ValueError(f"expected TYPE=TYPE pairs separated by commas, got {pair!r}")
        mapping[source] = target
    return mapping


def relabel(tags: Sequence[str], mapping: Mapping[str, str | None]) -> list[str]:
    """IOB2 tags with each entity type renamed by ``mapping``: one it maps to None, or does not
    name, becomes O."""
    renamed = []
    for tag in tags:
        prefix, _, kind = tag.partition("-")
        target = mapping.get(kind) if kind else None
        renamed.append(f"{prefix}-{target}" if target else "O")
    return renamed


def score(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Scores:
    """Compare predicted tag sequences with gold ones."""
    if [len(g) for g in gold] != [len(p) for p in predicted]:
        raise ValueError("gold and predicted tag sequences differ in shape")
    # seqeval (which brings scikit-learn and SciPy) is in the train extra, not in the serving
    # image: imported here, so that the command line, which imports this module to build its
    # `train` options, starts without it.
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    y_true, y_pred = [list(g) for g in gold], [list(p) for p in predicted]
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    per_type = {
        label: TypeScore(
            float(r["precision"]), float(r["recall"]), float(r["f1-score"]), int(r["support"])
        )
        for label, r in report.items()
        if not label.endswith(" avg")
    }
    tokens = sum(len(g) for g in gold)
    pairs = zip(gold, predicted, strict=True)
    correct = sum(a == b for g, p in pairs for a, b in zip(g, p, strict=True))
    return Scores(
        precision=float(precision_score(y_true, y_pred, zero_division=0)),
        recall=float(recall_score(y_true, y_pred, zero_division=0)),
        f1=float(f1_score(y_true, y_pred, zero_division=0)),
        token_accuracy=correct / tokens if tokens else 0.0,
        sentences=len(gold),
        tokens=tokens,
        per_type=per_type,
    )


def evaluate(
    loaded: LoadedModel,
    sentences: Sequence[Sentence],
    device: torch.device | str = "cpu",
    predictions: TextIO | None = None,
    label_map: Mapping[str, str] | None = None,
) -> Scores:
    """Tag the sentences with the model and score against their gold tags.

    ``label_map`` scores data with other entity types (WNUT-17's ``person``, say): it renames
    the gold types (those it does not name become O), and the model's types that no gold type
    is renamed to become O. With ``predictions``, write conlleval-style ``TOKEN GOLD PRED``
    lines, a blank line between sentences.
    """
    tagged = tag_sentences(loaded.network, loaded.vocab, [s.tokens for s in sentences], device)
    tags = [p.tags for p in tagged]
    if label_map is not None:
        kept = {target: target for target in label_map.values()}
        sentences = [Sentence(s.tokens, relabel(s.tags, label_map)) for s in sentences]
        tags = [relabel(t, kept) for t in tags]
    if predictions is not None:
        for sentence, predicted in zip(sentences, tags, strict=True):
            for token, g, p in zip(sentence.tokens, sentence.tags, predicted, strict=True):
                predictions.write(f"{token} {g} {p}\n")
            predictions.write("\n")
    return score([s.tags for s in sentences], tags)
