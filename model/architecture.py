"""The network's shape: the choices a training run makes (:class:`Architecture`) and the sizes
its data gives (:class:`TaggerConfig`), stored as the artifact's ``config.json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """The choices that shape a :class:`~model.network.TaggerNetwork` whatever the data: a
    training run takes them as flags of the same names (``model.training.config.TrainConfig``)."""

    hidden: int = 200  # per direction
    layers: int = 1
    bidirectional: bool = True
    crf: bool = True
    char_filters: int = 50
    casing_dim: int = 10
    dropout: float = 0.5
    #: One dropout mask per sentence, shared by all its positions (variational dropout).
    locked_dropout: bool = False


@dataclass(frozen=True)
class TaggerConfig(Architecture):
    """Shapes and switches of :class:`~model.network.TaggerNetwork`; stored as the artifact's
    ``config.json``."""

    num_words: int
    num_chars: int
    num_tags: int
    word_dim: int = 50
    char_dim: int = 30
    char_kernel: int = 3
    max_word_chars: int = 32
    #: Categories of the lexicon whose BIOES marks are features (0: no lexicon).
    lexicon_categories: int = 0
    #: Probability that a token's lexicon features are all zeroed in training, so that the
    #: network does not lean on the lists alone.
    lexicon_dropout: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaggerConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**data)
