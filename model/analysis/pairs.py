"""Minimal pairs: two sentences with the same opening whose label is decided by later words.

"Paris Hilton arrived ..." and "Paris hosted ..." open alike, but "Paris" is a person in one and
a place in the other, and only the words after it tell which. A tagger that reads left to right
must label the shared opening before it gets there, so it labels it the same in both; a
bidirectional one can tell them apart. The pairs are made up for this project
(``minimal_pairs.jsonl`` beside this module), with gold IOB2 tags.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from model.data import Sentence

PAIRS_FILE = Path(__file__).with_name("minimal_pairs.jsonl")


@dataclass(frozen=True, slots=True)
class MinimalPair:
    """Two gold sentences sharing their first :attr:`opening` tokens, labelled differently."""

    first: Sentence
    second: Sentence

    @property
    def opening(self) -> int:
        """How many tokens the two sentences share at the start."""
        shared = 0
        for a, b in zip(self.first.tokens, self.second.tokens, strict=False):
            if a != b:
                break
            shared += 1
        return shared


def _sentence(record: object, where: str) -> Sentence:
    if not isinstance(record, dict) or not {"text", "tags"} <= record.keys():
        raise ValueError(f"{where}: expected {{'text': ..., 'tags': ...}}")
    tokens, tags = str(record["text"]).split(), str(record["tags"]).split()
    if len(tokens) != len(tags) or not tokens:
        raise ValueError(f"{where}: {len(tokens)} tokens but {len(tags)} tags")
    if not all(tag == "O" or (len(tag) > 2 and tag[:2] in ("B-", "I-")) for tag in tags):
        raise ValueError(f"{where}: tags must be IOB2 (O, B-X, I-X)")
    return Sentence(tokens, tags)


def load_pairs(path: Path = PAIRS_FILE) -> list[MinimalPair]:
    """The pairs of a JSONL file, one ``{"sentences": [{"text", "tags"}, {"text", "tags"}]}`` a
    line; raises ValueError unless each pair shares an opening whose gold labels differ."""
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        sentences = json.loads(line).get("sentences")
        if not isinstance(sentences, list) or len(sentences) != 2:
            raise ValueError(f"{where}: a pair needs exactly two sentences")
        pair = MinimalPair(_sentence(sentences[0], where), _sentence(sentences[1], where))
        n = pair.opening
        if n == 0 or pair.first.tags[:n] == pair.second.tags[:n]:
            raise ValueError(f"{where}: the sentences must share an opening labelled differently")
        pairs.append(pair)
    return pairs
