"""Reading CoNLL-style files and converting between tag schemes and entity spans."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path


class ConllFormatError(ValueError):
    """A line of a CoNLL file that cannot be read; the message names file and line."""


@dataclass(frozen=True, slots=True)
class Sentence:
    """One labelled sentence: parallel lists of tokens and IOB2 tags."""

    tokens: list[str]
    tags: list[str]


def _check_tag(tag: str) -> bool:
    return tag == "O" or (len(tag) > 2 and tag[0] in "BI" and tag[1] == "-")


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """Rewrite tags so that every entity starts with ``B-``.

    In IOB1 an entity starts with ``I-`` unless it directly follows another entity of the
    same type; IOB2 input passes through unchanged.
    """
    out: list[str] = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def iob2_to_iobes(tags: Sequence[str]) -> list[str]:
    """Rewrite IOB2 tags as IOBES: a one-token entity is ``S-X``, a longer one ``B-X``,
    ``I-X`` ..., ``E-X`` (Ratinov & Roth 2009). A stray ``I-X`` opens an entity, as
    conlleval reads it, so the entities stay the same."""
    out: list[str] = []
    for i, tag in enumerate(tags):
        if tag == "O":
            out.append(tag)
            continue
        label = tag[2:]
        previous = tags[i - 1] if i > 0 else "O"
        begins = not (tag.startswith("I-") and previous != "O" and previous[2:] == label)
        continues = i + 1 < len(tags) and tags[i + 1] == "I-" + label
        out.append(("B-" if continues else "S-") if begins else ("I-" if continues else "E-"))
        out[-1] += label
    return out


def iobes_to_iob2(tag: str) -> str:
    """The IOB2 tag of an IOBES (or IOB2) tag: ``S-X`` is ``B-X``, ``E-X`` is ``I-X``."""
    if tag[:2] == "S-":
        return "B-" + tag[2:]
    if tag[:2] == "E-":
        return "I-" + tag[2:]
    return tag


def read_conll(path: str | Path) -> list[Sentence]:
    """Read a CoNLL-style file: one token per line, tag in the last column.

    Columns may be separated by spaces or tabs. Blank lines end sentences, ``-DOCSTART-`` lines
    and ``#`` comment lines are skipped, and IOB1 tags are normalised to IOB2.
    """
    return list(iter_conll(path))


def iter_conll(path: str | Path) -> Iterator[Sentence]:
    """Stream the sentences of a CoNLL-style file (see :func:`read_conll`)."""
    return (s for s in _sentences_and_documents(path) if s is not None)


def read_documents(path: str | Path) -> list[list[Sentence]]:
    """The sentences of a CoNLL-style file grouped into its documents: a ``-DOCSTART-`` line
    begins a new one (a file without such lines is one document)."""
    documents: list[list[Sentence]] = [[]]
    for sentence in _sentences_and_documents(path):
        if sentence is None:
            documents.append([])
        else:
            documents[-1].append(sentence)
    return [d for d in documents if d]


def _sentences_and_documents(path: str | Path) -> Iterator[Sentence | None]:
    """The sentences of a CoNLL-style file, with None where a ``-DOCSTART-`` line stands."""
    path = Path(path)
    tokens: list[str] = []
    tags: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                if tokens:
                    yield Sentence(tokens, iob1_to_iob2(tags))
                    tokens, tags = [], []
                continue
            if fields[0] == "-DOCSTART-":
                if tokens:
                    yield Sentence(tokens, iob1_to_iob2(tags))
                    tokens, tags = [], []
                yield None
                continue
            # Hashtags are tokens in tweets (WNUT-17): a '#' line is a comment only when it
            # does not end in a tag.
            if line.startswith("#") and (len(fields) < 2 or not _check_tag(fields[-1])):
                continue
            if len(fields) < 2:
                raise ConllFormatError(f"{path}:{number}: expected 'TOKEN ... TAG', got {line!r}")
            if not _check_tag(fields[-1]):
                raise ConllFormatError(
                    f"{path}:{number}: {fields[-1]!r} is not an IOB tag (O, B-X or I-X)"
                )
            tokens.append(fields[0])
            tags.append(fields[-1])
    if tokens:
        yield Sentence(tokens, iob1_to_iob2(tags))


#: How :func:`recase` can rewrite a text: unchanged, all lower case, all upper case.
CASES = ("as-is", "lower", "upper")


def recase_token(token: str, case: str) -> str:
    """``token`` in ``case`` (one of :data:`CASES`)."""
    if case == "lower":
        return token.lower()
    if case == "upper":
        return token.upper()
    if case == "as-is":
        return token
    raise ValueError(f"unknown case {case!r} (one of {', '.join(CASES)})")


def recase(sentences: Sequence[Sentence], case: str) -> list[Sentence]:
    """The sentences with every token rewritten in ``case``; tags stay as they are.

    Chat messages, search queries, transcripts and headlines arrive lower- or upper-cased: the
    same gold sentences in those cases measure (and, in training, teach) how a tagger copes.
    """
    return [Sentence([recase_token(t, case) for t in s.tokens], list(s.tags)) for s in sentences]
