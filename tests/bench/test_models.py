"""bench.models' int8 copy of a tagger: quantized where it says, the original left alone."""

from __future__ import annotations

from pathlib import Path

import torch

from bench.models import quantized
from model.tagger import Tagger


def test_int8_copy_quantizes_the_gru_and_projection_only(tiny_model: Path) -> None:
    tagger = Tagger.load(tiny_model)
    before = {k: v.clone() for k, v in tagger.model.network.state_dict().items()}
    int8 = quantized(tagger)
    network = int8.model.network
    dynamic = torch.ao.nn.quantized.dynamic
    assert [type(network.gru), type(network.project)] == [dynamic.GRU, dynamic.Linear]
    assert type(network.chars.conv) is torch.nn.Conv1d  # the character CNN stays float
    assert type(tagger.model.network.gru) is torch.nn.GRU  # the original is untouched
    after = tagger.model.network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_int8_copy_tags_like_the_original(tiny_model: Path) -> None:
    tagger = Tagger.load(tiny_model)
    sentences = [["Jordan", "met", "Rossi", "in", "Oslo", "."], ["Peace", "talks", "began"]]
    int8 = quantized(tagger)
    with torch.inference_mode():
        ours = tagger.tag_sentences(sentences)
        theirs = int8.tag_sentences(sentences)
    assert [len(p.tags) for p in theirs] == [len(p.tags) for p in ours]
    scores = [s for p in ours for s in p.scores]
    pairs = zip(scores, [s for p in theirs for s in p.scores], strict=True)
    # int8 rounding moves the probabilities a little, not wholesale
    assert max(abs(a - b) for a, b in pairs) < 0.1
