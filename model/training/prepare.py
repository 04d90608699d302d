"""What a training run starts from: the vocabulary, the network with its pretrained word
vectors, and the optimisers."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields

import numpy as np
import torch
from torch import nn

from model.data import Sentence
from model.network import Architecture, TaggerConfig, TaggerNetwork
from model.training.config import TrainConfig
from model.training.embeddings import Vectors, load_vectors
from model.training.fill import fill_missing
from model.vocab import Vocab, digit_key, word_key


def pretrained_vectors(config: TrainConfig, log: Callable[[str], object]) -> Vectors | None:
    """The run's pretrained vectors: ``embeddings``, the words it lacks filled in from
    ``embeddings_fill`` when given, then limited to the ``embeddings_limit`` most frequent."""
    if not config.embeddings:
        return None
    if not config.embeddings_fill or config.embeddings_fill == config.embeddings:
        return load_vectors(config.embeddings, config.embeddings_limit)
    # The map is fitted on every shared word, the limit taken after the fill.
    filled = fill_missing(load_vectors(config.embeddings), load_vectors(config.embeddings_fill))
    log(
        f"{filled.added} words filled in from {config.embeddings_fill} by a linear map "
        f"fitted on {filled.shared} words in both"
    )
    return filled.vectors.head(config.embeddings_limit)


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


def network_config(config: TrainConfig, vocab: Vocab, vectors: Vectors | None) -> TaggerConfig:
    """The network a run trains: the run's architecture, sized for its vocabulary and vectors."""
    lexicon = vocab.lexicon
    return TaggerConfig(
        num_words=len(vocab.words),
        num_chars=len(vocab.chars),
        num_tags=len(vocab.tags),
        word_dim=vectors.dim if vectors is not None else 50,
        lexicon_categories=0 if lexicon is None else len(lexicon.categories),
        lexicon_dropout=config.lexicon_dropout if lexicon is not None else 0.0,
        **{f.name: getattr(config, f.name) for f in fields(Architecture)},
    )


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


def make_optimizers(
    network: TaggerNetwork, config: TrainConfig, extra: Iterable[nn.Parameter] = ()
) -> list[torch.optim.Optimizer]:
    """One optimiser for the dense parameters and a lazy (sparse) one for the word embedding.

    ``adam``: Adam and SparseAdam. ``sgd``: SGD with momentum as Ma & Hovy (2016), and plain
    SGD for the embedding rows, since momentum would turn their sparse updates dense.
    ``extra``: dense parameters trained beside the network's (a training objective's head),
    after the network's so that theirs keep their places in the optimiser's state.
    """
    dense = [
        p for name, p in network.named_parameters() if p.requires_grad and name != "words.weight"
    ]
    dense += list(extra)
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
