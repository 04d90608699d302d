"""Sentences: the tokens of a text grouped where a sentence ends."""

from __future__ import annotations

import re

from model.tokenize.tokens import TITLES, Token, tokenize

# Sentence-final punctuation, including its CJK, Arabic and Devanagari forms.
_TERMINATORS = ".!?…。！？؟۔।॥‼⁇⁈⁉．｡"
_TERMINATOR_RE = re.compile(f"[{_TERMINATORS}]+")
# Closing quotes and brackets that belong to the sentence they directly follow: `"No."`.
_CLOSER_RE = re.compile(r"[\"'’”»›)\]}」』）］｝]")
# A token whose final period may be the sentence's: "U.S.", "Inc.", "J." but not "1." or "...".
_ABBREV_TOKEN_RE = re.compile(r"(?s:.*[^.\d])\.")
# Two line breaks (a blank line) or a paragraph separator end a sentence even without a
# period: headlines and datelines in news copy have none. "\r\n" is one break, not two.
_LINE_BREAK = r"(?>\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028])"
_PARAGRAPH_RE = re.compile(rf"{_LINE_BREAK}\s*?{_LINE_BREAK}|\u2029")

_NEVER_FINAL = frozenset(TITLES | {w.upper() for w in TITLES})
# After an abbreviation, a new sentence is only assumed when one of these words follows.
_SENTENCE_OPENERS = frozenset(
    "The A An He She It They We I You This That These Those There Their His Her Its Our My "
    "In On At But And However After When If As For Some Many Most Meanwhile Also".split()
)


def _paragraph_between(text: str, start: int, end: int) -> bool:
    """Whether the whitespace ``text[start:end]`` holds a blank line or a paragraph separator
    (:data:`_PARAGRAPH_RE`); the one space between most words is answered without a search."""
    if end - start > 1:
        return _PARAGRAPH_RE.search(text, start, end) is not None
    return end - start == 1 and text[start] == "\u2029"


def split_sentences(text: str) -> list[list[Token]]:
    """Tokenize ``text`` and group the tokens into sentences.

    A sentence ends at ``.``, ``!``, ``?`` or an ellipsis (together with any closing quotes
    or brackets directly attached to it) unless the next token starts with a lowercase letter,
    and at a blank line. Abbreviations (``U.S.``, ``Mr.``, initials) and decimals do not end a
    sentence; an abbreviation other than a title does when a typical sentence opener such as
    "The" or "He" follows, and its period then becomes a token of its own, as in CoNLL-2003
    (``Inc .``). Offsets index into ``text``; sentences are never empty.

    >>> [[t.text for t in s] for s in split_sentences("He met Mr. Smith in the U.S. He left.")]
    [['He', 'met', 'Mr.', 'Smith', 'in', 'the', 'U.S', '.'], ['He', 'left', '.']]
    """
    tokens = tokenize(text)
    sentences: list[list[Token]] = []
    current: list[Token] = []
    n = len(tokens)
    i = 0
    while i < n:
        tok = tokens[i]
        current.append(tok)
        i += 1
        if tok.text[0] in _TERMINATORS and _TERMINATOR_RE.fullmatch(tok.text):
            while i < n and tokens[i].start == current[-1].end:
                nxt = tokens[i].text
                if not (_TERMINATOR_RE.fullmatch(nxt) or _CLOSER_RE.fullmatch(nxt)):
                    break
                current.append(tokens[i])
                i += 1
            ends = i == n or not tokens[i].text[0].islower()
        else:
            ends = False
        if not ends and i < n:
            paragraph = _paragraph_between(text, current[-1].end, tokens[i].start)
            abbrev = tok.text[-1] == "." and _ABBREV_TOKEN_RE.fullmatch(tok.text) is not None
            ends = paragraph or (
                abbrev and tok.text[:-1] not in _NEVER_FINAL and tokens[i].text in _SENTENCE_OPENERS
            )
            if ends and abbrev:
                # The abbreviation's period doubles as the full stop: "U.S." -> "U.S" ".".
                current[-1:] = [
                    Token(tok.text[:-1], tok.start, tok.end - 1),
                    Token(".", tok.end - 1, tok.end),
                ]
        if ends:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences
