"""Raw-text tokenizer that follows the CoNLL-2003 (Reuters) tokenization conventions.

The tagger was trained on pre-tokenized CoNLL-2003 text, so raw input has to be cut the same
way to look like its training data. Conventions checked against the training file:

* punctuation is split off: ``,`` ``.`` ``(`` ``)`` ``"`` ``:`` ``;`` ``?`` ``!`` ``%`` ``$``;
* clitics are separate tokens: ``'s`` ``'re`` ``'ve`` ``'ll`` ``'m`` ``'d`` and ``n't``
  (``can't`` -> ``ca n't``, ``won't`` -> ``wo n't``), while ``O'Brien`` stays whole;
* hyphenated words, scores and dates stay whole: ``year-old``, ``2-1``, ``1996-08-22``;
* numbers keep their inner ``,`` ``.`` ``:`` ``/``: ``5,000`` ``1.5`` ``14:30`` ``3/8``;
  a leading ``+`` stays on (``+0.05``) but a leading ``-`` is split off;
* ``12.3%`` -> ``12.3 %``, ``$17`` -> ``$ 17`` but ``US$`` / ``C$`` are single tokens;
* abbreviations keep their period (``U.S.``, ``Corp.``, ``Mr.``, initials ``J.``), except at
  the end of a sentence, where the data has ``U.S .`` / ``Inc .``;
* list numbers at the start of a line keep their period (``1.``), other numbers do not;
* a hyphen directly followed by whitespace stays on its word (``anti- and pro-``).

Every character that is not whitespace (``str.isspace``) belongs to exactly one token, and
``text[token.start:token.end] == token.text`` always holds, for any Unicode input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from model.tokenize.characters import EMOJI_MODIFIER, NOT_WORD, SYMBOL


@dataclass(slots=True)
class Token:
    """A token and its character span in the text it came from.

    ``text_input[start:end] == text`` always holds. Read-only by convention, not frozen: one
    is made per token of every request, and a frozen dataclass takes about four times as long
    to make (BENCHMARKS.md, "Serving speed v2").
    """

    text: str
    start: int
    end: int


# A run of word characters: letters, digits, marks, anything that is not whitespace,
# punctuation, a symbol or a control character.
_L = rf"[^\s{NOT_WORD}]"

# Clitics that the data splits off as tokens of their own: "John 's", "they 're", "do n't".
_CLITIC_TAIL = r"(?:[sSmMdD]|re|RE|Re|ve|VE|Ve|ll|LL|Ll)(?![^\W_])"
_CLITIC = rf"['’]{_CLITIC_TAIL}"
_NT = r"[nN]['’][tT](?![^\W_])"

# A word piece: word characters up to an "n't" clitic (do|n't, ca|n't), or word characters
# with inner apostrophes (O'Brien, d'Italia, Gov't) as long as no clitic follows one.
_PIECE = rf"(?:{_L}+?(?={_NT})|{_L}+(?:['’](?!{_CLITIC_TAIL}){_L}+)*)"

# Pieces join into one token across a single hyphen (2-1, year-old, 1996-08-22), a single
# period followed by a word character (1.5, www.reuters.com, U.S before a final period),
# and ,:/ between digits (5,000, 14:30, 3/8) and & between capitals (S&P, AT&T).
_JOIN = r"(?:-|\.|(?<=\d)[,:/](?=\d)|(?<=[A-Z])&(?=[A-Z]))"

# Abbreviations that keep their period. Titles always precede a name, so split_sentences never
# ends a sentence after one; after the others it does when a typical sentence opener follows.
# Capitalized English words that often end sentences ("Man", "Mass", "Sun") are left out.
TITLES = frozenset(
    "Mr Mrs Ms Messrs Mme Mlle Dr Prof Gen Lt Col Capt Cmdr Sgt Maj Adm Cpl Pvt Rev Fr Sen Rep "
    "Gov Pres Supt Hon Amb St Ste Mt Ft vs v cf approx Fig fig Vol vol No Nos".split()
)
_OTHER_ABBREVS = frozenset(
    "Inc Corp Co Cos Ltd Plc Bros Jr Sr Dept Univ Assn Ave Blvd Rd Esq etc al "
    "Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Tue Tues Thu Thur Thurs Fri "
    "Ala Ariz Ark Calif Colo Conn Del Fla Ga Ill Ind Kan Kans Ky La Md Mich Minn Mo "
    "Mont Neb Nev Okla Pa Penn Tenn Tex Va Vt Wash Wis Wyo Ont Que Sask Alta".split()
)
# "No." is only an abbreviation before a number ("No. 1"); elsewhere it is the word "no".
_NUMBER_ABBREVS = frozenset({"No", "Nos", "NO"})


def _alternation(words: Iterable[str]) -> str:
    # Longest first, so that "Sept" wins over "Sep".
    return "|".join(sorted((re.escape(w) for w in words), key=lambda w: (-len(w), w)))


_ABBREV_FORMS = {w for w in TITLES | _OTHER_ABBREVS if w not in _NUMBER_ABBREVS and len(w) > 1}
# Reuters headlines are in capitals: "ST.", "CORP.".
_ABBREV_FORMS |= {w.upper() for w in _ABBREV_FORMS}

# Only whitespace and closing quotes left: a period here ends the last sentence.
_TEXT_END = r"[\s\"'’”»]*\Z"

# Words ending in a period that keep it, unless they end the text, where the data detaches
# the period ("in the U.S ."). A hyphenated continuation stays on: "U.S.-led", "Ill.-based".
_ABBREV = (
    # The lookahead is a cheap filter: trying ~200 abbreviations at every word is slow.
    r"(?=[A-Za-z]{1,8}\.)"
    rf"(?:(?:[A-Za-z]\.){{2,}}|(?:{_alternation(_ABBREV_FORMS)})\.|[A-Z]\.|v\."
    rf"|(?:{_alternation(_NUMBER_ABBREVS)})\.(?=\s*\d))"
    rf"(?:-{_L}+)*(?!{_L}|{_TEXT_END})"
)

_TOKEN_RE = re.compile(
    "|".join(
        [
            # URLs and e-mail addresses; the last character may not be sentence punctuation.
            r"(?:https?://|ftp://|www\.)[^\s<>\"()\[\]{}]*[^\s<>\"()\[\]{}.,;:!?'’]",
            # The local part is bounded (RFC 5321: 64) so that long runs of word characters and
            # "+" or "." cannot make every token start rescan the rest of the run.
            r"\w[\w.+-]{0,63}@\w[\w-]*(?:\.\w[\w-]*)+",
            # Runs the data keeps together: "...", "--", "**".
            r"\.{2,}|-{2,}|\*{2,}",
            # A list number at the start of a line: "1. Pivotal 100-30".
            r"(?<![^\n])\d{1,3}\.(?=[^\S\n]+\S)",
            _ABBREV,
            # Currency prefixes the data keeps as one token: US$, C$, HK$.
            r"(?<![^\W\d_])[A-Z]{1,3}\$",
            _CLITIC,
            _NT,
            # Decimals without a leading zero: ".576".
            r"\.\d+(?:\.\d+)*",
            # The main case: pieces joined by hyphens, inner periods and so on. "+" stays on
            # signed numbers ("+0.05"); a trailing hyphen before whitespace stays on ("anti-").
            # A hyphen may also join an abbreviation: "then-U.S.", "Russian-U.S.".
            rf"(?:\+(?=\d))?{_PIECE}"
            rf"(?:-(?:[A-Za-z]\.){{2,}}(?!{_L}|{_TEXT_END})|{_JOIN}{_PIECE})*"
            # Tied ranks keep their "=" ("1= Andrei"), ratings their "+" ("AA+").
            r"(?:-(?!\S)|(?<=\d)=(?!\S)|(?<=[A-Z])\+(?!\S))?",
            # Emoji with their modifiers and ZWJ sequences as one token; flags are letter pairs.
            r"[\U0001F1E6-\U0001F1FF]{2}",
            rf"[{SYMBOL}][{EMOJI_MODIFIER}]*(?:\u200d[{SYMBOL}][{EMOJI_MODIFIER}]*)*",
            # Anything else: one character that is not whitespace.
            r"\S",
        ]
    )
)


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens the way CoNLL-2003 is tokenized.

    Whitespace of any kind separates tokens and is never part of one; every other character
    belongs to exactly one token. Offsets index into ``text``.

    >>> [t.text for t in tokenize("The U.S. didn't win 2-1, said Mr. O'Brien's aide.")]
    ['The', 'U.S.', 'did', "n't", 'win', '2-1', ',', 'said', 'Mr.', "O'Brien", "'s", 'aide', '.']
    """
    # What _TOKEN_RE.finditer(text) finds, with its work cut down: no match spans whitespace,
    # so each run of non-whitespace is matched on its own (the text around it still in
    # view), and a run of ASCII letters and digits alone, most of a text's words, is one
    # token whatever surrounds it (no alternative splits one), so it skips the regex.
    tokens: list[Token] = []
    append, match = tokens.append, _TOKEN_RE.match
    end = 0
    for run in text.split():  # str.isspace, as \s
        start = text.find(run, end)
        end = start + len(run)
        if run.isascii() and run.isalnum():
            append(Token(run, start, end))
            continue
        while start < end:
            found = match(text, start)
            assert found is not None  # \S matches any character of a run
            append(Token(found.group(), start, found.end()))
            start = found.end()
    return tokens


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
