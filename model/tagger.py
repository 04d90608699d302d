"""The :class:`Tagger`: raw text or token lists in, tagged tokens and entity spans out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from model.artifact import LoadedModel, load
from model.bundled import DEFAULT_MODEL
from model.deciding import label_probabilities
from model.features import tag_sentences
from model.pipeline import (
    Document,
    Prediction,
    Tagged,
    documents_from_texts,
    documents_from_tokens,
    sentences_of,
    tagged,
)


class Tagger:
    """Tags raw text (tokenized and split into sentences here) or pre-tokenized sentences."""

    def __init__(
        self,
        model: LoadedModel,
        device: str | torch.device = "cpu",
        call_cost: int | None = None,
    ) -> None:
        self.model = model
        self.device = torch.device(device)
        #: One model call's cost in padded tokens, for cutting sentences sorted by length into
        #: calls (:func:`model.grouping.calls`); None: calls of up to 256 sentences.
        self.call_cost = call_cost
        model.network.to(self.device).eval()

    @classmethod
    def load(
        cls,
        path: str | Path = DEFAULT_MODEL,
        device: str | torch.device = "cpu",
        call_cost: int | None = None,
    ) -> Tagger:
        """Load an artifact directory (the bundled BiGRU by default)."""
        return cls(load(path, device), device, call_cost)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def labels(self) -> list[str]:
        return self.model.vocab.labels

    @property
    def bidirectional(self) -> bool:
        return self.model.network.config.bidirectional

    def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[Prediction]:
        """The tags of each token list and their probabilities, in input order."""
        network, vocab = self.model.network, self.model.vocab
        return tag_sentences(network, vocab, sentences, self.device, self.call_cost)

    def probabilities_of(
        self, sentences: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]
    ) -> list[Prediction]:
        """Tags of each token list, and each token's probability of the label ``labels`` gives
        it, in one batch (see :mod:`model.deciding`)."""
        network, vocab = self.model.network, self.model.vocab
        return label_probabilities(network, vocab, sentences, labels, self.device)

    def tag_tokens(self, sentences: Sequence[Sequence[str]]) -> list[Tagged]:
        """Tag pre-tokenized sentences; offsets are token indices."""
        return self._tag_documents(documents_from_tokens(sentences))

    def tag(self, texts: Sequence[str]) -> list[Tagged]:
        """Tag raw texts: each is split into sentences, tagged, and put back together."""
        return self._tag_documents(documents_from_texts(texts))

    def _tag_documents(self, documents: list[Document]) -> list[Tagged]:
        return tagged(documents, self.tag_sentences(sentences_of(documents)))
