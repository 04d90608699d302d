"""Vocabularies of words, characters and tags, and the lookups that turn tokens into ids."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from model.data import iobes_to_iob2

if TYPE_CHECKING:
    from model.lexicon import Lexicon

PAD = "<pad>"
UNK = "<unk>"

_DIGIT = re.compile(r"\d")

# Casing classes give the network the capitalisation that lowercase word vectors throw away.
CASINGS = ("<pad>", "lower", "upper", "title", "mixed", "numeric", "has_digit", "other")


def word_key(token: str) -> str:
    """The form under which a token is looked up in the word vocabulary."""
    return token.lower()


def digit_key(token: str) -> str:
    """Lowercased with every digit replaced by ``0``: the fallback for unseen numbers."""
    return _DIGIT.sub("0", token.lower())


def casing(token: str) -> int:
    """Index into :data:`CASINGS` of the token's capitalisation class."""
    if token.isdigit():
        return 5
    if any(c.isdigit() for c in token):
        return 6
    if token.islower():
        return 1
    if token.isupper():
        return 2
    if token[:1].isupper() and token[1:].islower():
        return 3
    if any(c.isalpha() for c in token):
        return 4
    return 7


#: A token's word id, character ids and casing class.
TokenIds = tuple[int, tuple[int, ...], int]
#: How many tokens :meth:`Vocab.token_ids` remembers before it starts afresh.
SEEN_TOKENS = 1 << 16


@dataclass
class Vocab:
    """Index of words, characters and tags; index 0 is padding, index 1 unknown (not for tags)."""

    words: list[str]
    chars: list[str]
    tags: list[str]
    word_index: dict[str, int] = field(init=False, repr=False)
    char_index: dict[str, int] = field(init=False, repr=False)
    tag_index: dict[str, int] = field(init=False, repr=False)
    #: The tags predictions are given in: IOB2, whether the network's own tags (``tags``) are
    #: IOB2 or IOBES; ``output_of[i]`` is the index in it of ``tags[i]``.
    output_tags: list[str] = field(init=False, repr=False)
    output_of: list[int] = field(init=False, repr=False)
    #: Name lists whose matches are token features (kept in ``lexicon.json``, not in the
    #: vocabulary's own JSON); ``None`` for a model without them.
    lexicon: Lexicon | None = field(default=None, repr=False, compare=False)
    #: Ids of tokens seen before, per max_chars (see :meth:`token_ids`).
    _seen: dict[int, dict[str, TokenIds]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if self.words[:2] != [PAD, UNK] or self.chars[:2] != [PAD, UNK]:
            raise ValueError("vocab words and chars must start with <pad>, <unk>")
        if len(set(self.words)) != len(self.words) or len(set(self.tags)) != len(self.tags):
            raise ValueError("vocab has duplicate entries")
        self.word_index = {w: i for i, w in enumerate(self.words)}
        self.char_index = {c: i for i, c in enumerate(self.chars)}
        self.tag_index = {t: i for i, t in enumerate(self.tags)}
        as_iob2 = [iobes_to_iob2(t) for t in self.tags]
        self.output_tags = list(dict.fromkeys(as_iob2))
        self.output_of = [self.output_tags.index(t) for t in as_iob2]

    @property
    def iobes(self) -> bool:
        """Whether the network's tags are IOBES, to be given out as IOB2."""
        return len(self.output_tags) != len(self.tags)

    @classmethod
    def build(
        cls,
        sentences: Iterable[tuple[Sequence[str], Sequence[str]]],
        extra_words: Iterable[str] = (),
        min_char_count: int = 1,
    ) -> Vocab:
        """Build from (tokens, tags) pairs plus extra words (e.g. those of pretrained vectors)."""
        words: dict[str, None] = {}
        char_counts: dict[str, int] = {}
        tags: set[str] = set()
        for tokens, sentence_tags in sentences:
            for token in tokens:
                words[word_key(token)] = None
                for c in token:
                    char_counts[c] = char_counts.get(c, 0) + 1
            tags.update(sentence_tags)
        for word in extra_words:
            words[word] = None
        words.pop(PAD, None)
        words.pop(UNK, None)
        chars = sorted(c for c, n in char_counts.items() if n >= min_char_count)
        # O first, then entity tags grouped by label, so the tag list reads naturally.
        ordered_tags = sorted(tags, key=lambda t: (t != "O", t[2:], t[:1]))
        return cls([PAD, UNK, *words], [PAD, UNK, *chars], ordered_tags)

    def word_id(self, token: str) -> int:
        """Id of a token's word, falling back to its digit-normalised form, then ``<unk>``."""
        index = self.word_index
        found = index.get(word_key(token))
        if found is None:
            found = index.get(digit_key(token), 1)
        return found

    def token_ids(self, token: str, max_chars: int) -> TokenIds:
        """Word id, character ids (of the first ``max_chars``) and casing of a token.

        Remembered for up to :data:`SEEN_TOKENS` tokens: the same words come back in every
        batch, and looking them up again costs as much as a good part of the network.
        """
        seen = self._seen.setdefault(max_chars, {})
        ids = seen.get(token)
        if ids is None:
            if len(seen) >= SEEN_TOKENS:
                seen.clear()
            ids = seen[token] = (
                self.word_id(token),
                tuple(self.char_ids(token, max_chars)),
                casing(token),
            )
        return ids

    def char_ids(self, token: str, max_chars: int) -> list[int]:
        """Ids of the first ``max_chars`` characters of a token."""
        index = self.char_index
        return [index.get(c, 1) for c in token[:max_chars]]

    @property
    def labels(self) -> list[str]:
        """Entity labels (tags without their B-/I- prefix), sorted."""
        return sorted({t[2:] for t in self.tags if t != "O"})

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable form of the vocabulary."""
        return {"words": self.words, "chars": self.chars, "tags": self.tags}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vocab:
        """Inverse of :meth:`to_json`."""
        return cls(list(data["words"]), list(data["chars"]), list(data["tags"]))
