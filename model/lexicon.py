"""Name lists (places, people, companies, ...) as per-token features (Chiu & Nichols 2016).

A lexicon holds categories of entries, each entry a sequence of lower-cased tokens. A
sentence is matched against it per category, case-insensitively: at each position the longest
n-gram that is an entry, or a *partial* entry (a prefix or a suffix of an entry that covers at
least half of its tokens, and two or more), is taken, and the tokens it covers get BIOES
marks (``S`` a single token; ``B``, ``I``, ``E`` the first, inner and last tokens of a longer
match). Matches of one
category do not overlap: after a match the search goes on after its last token. Categories are
matched independently, so a token can be a city's ``S`` and a surname's ``B`` at once.

A forward-only tagger must not see later words, and a BIOES mark does (``B`` says a match goes
on). Its lexicon is *causal*: token ``i`` is marked by the longest n-gram ending at ``i`` that
begins some entry or partial entry: ``S``/``E`` when that n-gram is itself an entry or partial
entry of one or more tokens, else ``B`` (one token) or ``I`` (more). Only tokens up to ``i``
decide it.

A token's marks are one integer, 4 bits a category (B, I, E, S from the lowest bit), which
:mod:`model.network` unpacks into 0/1 features.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Bits of one category's marks, from the lowest: B, I, E, S.
MARKS = "BIES"
#: Longest entry, in tokens, that is matched; longer ones are dropped when a lexicon is built.
MAX_TOKENS = 8


def normalise(token: str) -> str:
    """The form tokens are matched in: case-folded."""
    return token.casefold()


def marks_of(features: int, categories: Sequence[str]) -> dict[str, str]:
    """Readable marks of one token: ``{category: mark}`` for the categories that mark it."""
    out = {}
    for c, name in enumerate(categories):
        bits = (features >> (4 * c)) & 0b1111
        if bits:
            out[name] = "".join(m for k, m in enumerate(MARKS) if bits >> k & 1)
    return out


@dataclass
class Lexicon:
    """Entries per category, matched to give each token its BIOES marks."""

    #: Category name -> entries, each a tuple of normalised tokens.
    entries: dict[str, list[tuple[str, ...]]]
    #: Where the entries came from: name, version, licence, and what was taken, per source.
    sources: list[dict[str, Any]] = field(default_factory=list)
    #: Marks that depend only on the token and the tokens before it (forward-only models).
    causal: bool = False
    _grams: dict[tuple[str, ...], int] = field(init=False, repr=False)
    _starts: dict[tuple[str, ...], int] = field(init=False, repr=False)
    _words: frozenset[str] = field(init=False, repr=False)
    _longest: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.entries) > 15:
            raise ValueError(f"a lexicon holds at most 15 categories, not {len(self.entries)}")
        # n-gram -> bits of the categories it is an entry or partial entry of; prefixes of
        # entries or partial entries -> bits of categories (the causal matcher's "a match may
        # go on").
        grams: dict[tuple[str, ...], int] = {}
        starts: dict[tuple[str, ...], int] = {}
        gram, start = grams.get, starts.get  # ~150k entries: this loop is most of a load
        for c, name in enumerate(self.entries):
            bit = 1 << c
            for entry in self.entries[name]:
                n = len(entry)
                if not 0 < n <= MAX_TOKENS or "" in entry:
                    raise ValueError(f"{name}: bad entry {entry!r}")
                grams[entry] = gram(entry, 0) | bit
                starts[entry] = start(entry, 0) | bit
                for k in range(1, n):
                    starts[entry[:k]] = start(entry[:k], 0) | bit
                for k in range(_shortest_partial(n), n):
                    prefix, suffix = entry[:k], entry[n - k :]
                    grams[prefix] = grams.get(prefix, 0) | bit
                    grams[suffix] = grams.get(suffix, 0) | bit
                    # A suffix that counts as a partial entry starts a match of its own.
                    for j in range(1, k + 1):
                        starts[suffix[:j]] = starts.get(suffix[:j], 0) | bit
        self._grams = grams
        self._starts = starts
        self._words = frozenset(t for g in grams for t in g)
        self._longest = max((len(g) for g in grams), default=0)

    @property
    def categories(self) -> list[str]:
        return list(self.entries)

    def features(self, tokens: Sequence[str]) -> list[int]:
        """Each token's marks, 4 bits a category (see the module's docstring)."""
        words = [normalise(t) for t in tokens]
        if self.causal:
            return self._causal(words)
        out = [0] * len(words)
        known, grams = self._words, self._grams
        # run[i]: how many tokens from i on are all words of some entry; no match is longer.
        run = [0] * (len(words) + 1)
        for i in range(len(words) - 1, -1, -1):
            run[i] = run[i + 1] + 1 if words[i] in known else 0
        free = [0] * len(self.entries)  # per category: the first position not yet matched
        for i in range(len(words)):
            if not run[i]:
                continue
            longest = min(run[i], self._longest)
            found = [(n, grams.get(tuple(words[i : i + n]), 0)) for n in range(longest, 0, -1)]
            for c in range(len(self.entries)):
                if free[c] > i:
                    continue
                bit = 1 << c
                for n, hit in found:
                    if hit & bit:
                        _mark(out, i, n, 4 * c)
                        free[c] = i + n
                        break
        return out

    def _causal(self, words: list[str]) -> list[int]:
        out = [0] * len(words)
        known, starts, grams = self._words, self._starts, self._grams
        for i in range(len(words)):
            if words[i] not in known:
                continue
            # Per category, the longest n-gram ending at i that starts an entry.
            best = [0] * len(self.entries)
            for n in range(1, min(i + 1, self._longest) + 1):
                if words[i - n + 1] not in known:
                    break
                gram = tuple(words[i - n + 1 : i + 1])
                bits = starts.get(gram, 0)
                for c in range(len(self.entries)):
                    if bits >> c & 1:
                        best[c] = n
            for c, n in enumerate(best):
                if not n:
                    continue
                complete = bool(grams.get(tuple(words[i - n + 1 : i + 1]), 0) >> c & 1)
                mark = (3 if n == 1 else 2) if complete else (0 if n == 1 else 1)
                out[i] |= 1 << (4 * c + mark)
        return out

    def to_json(self) -> dict[str, Any]:
        """A compact JSON form: entries as space-joined tokens, sorted."""
        return {
            "categories": {
                name: sorted(" ".join(e) for e in set(entries))
                for name, entries in self.entries.items()
            },
            "sources": self.sources,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], causal: bool = False) -> Lexicon:
        """Inverse of :meth:`to_json`; ``causal`` as the model that uses it needs."""
        categories = data["categories"]
        if not isinstance(categories, dict) or not all(
            isinstance(v, list) and all(isinstance(e, str) for e in v) for v in categories.values()
        ):
            raise ValueError("lexicon 'categories' must map names to lists of strings")
        entries = {name: [tuple(e.split(" ")) for e in v] for name, v in categories.items()}
        return cls(entries, list(data.get("sources", [])), causal)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON form: what an artifact's config records."""
        return digest_of(self.to_json())


def digest_of(data: Mapping[str, Any]) -> str:
    """SHA-256 of a lexicon's JSON form as :meth:`Lexicon.to_json` writes it (sorted keys):
    checking a file's data this way spares rebuilding that form from the entries."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _shortest_partial(n: int) -> int:
    """Fewest tokens of an ``n``-token entry that a partial match covers: half, and at least 2
    (a lone first or last word, "new" of "New York", says too little)."""
    return max(2, (n + 1) // 2)


def _mark(out: list[int], start: int, n: int, shift: int) -> None:
    if n == 1:
        out[start] |= 1 << (shift + 3)
        return
    out[start] |= 1 << shift
    for i in range(start + 1, start + n - 1):
        out[i] |= 1 << (shift + 1)
    out[start + n - 1] |= 1 << (shift + 2)


def build(
    categories: Mapping[str, Iterable[Sequence[str]]], sources: list[dict[str, Any]]
) -> Lexicon:
    """A lexicon from tokenised names per category: normalised, deduplicated, long ones dropped."""
    entries = {}
    for name, names in categories.items():
        unique = {tuple(normalise(t) for t in tokens) for tokens in names}
        entries[name] = sorted(e for e in unique if 0 < len(e) <= MAX_TOKENS and all(e))
    return Lexicon(entries, sources)
