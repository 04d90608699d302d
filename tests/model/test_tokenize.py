"""Tests for the CoNLL-2003 style tokenizer and sentence splitter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.tokenize import (
    _PARAGRAPH_RE,
    _TOKEN_RE,
    Token,
    _paragraph_between,
    split_sentences,
    tokenize,
)


def texts(text: str) -> list[str]:
    return [t.text for t in tokenize(text)]


def sentence_texts(text: str) -> list[list[str]]:
    return [[t.text for t in sentence] for sentence in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Punctuation is split off.
        ("Hello, world.", ["Hello", ",", "world", "."]),
        ("Wait; what: really?!", ["Wait", ";", "what", ":", "really", "?", "!"]),
        ("(Reuters) [1] {x}", ["(", "Reuters", ")", "[", "1", "]", "{", "x", "}"]),
        ('"Yes," he said.', ['"', "Yes", ",", '"', "he", "said", "."]),
        ("'Hello' there", ["'", "Hello", "'", "there"]),
        ("Bosnia -- a test", ["Bosnia", "--", "a", "test"]),
        ("He paused...", ["He", "paused", "..."]),
        # Possessives and clitics.
        ("John's car", ["John", "'s", "car"]),
        ("DAVEY'S TEAM", ["DAVEY", "'S", "TEAM"]),
        ("the players' union", ["the", "players", "'", "union"]),
        ("don't", ["do", "n't"]),
        ("can't won't isn't", ["ca", "n't", "wo", "n't", "is", "n't"]),
        ("didn’t", ["did", "n’t"]),
        ("O'Brien's d'Italia o'clock Gov't", ["O'Brien", "'s", "d'Italia", "o'clock", "Gov't"]),
        # Already tokenized text round-trips.
        ("John 's car does n't", ["John", "'s", "car", "does", "n't"]),
        # Hyphenated words, scores, dates.
        ("Won 2-1 and 1-0", ["Won", "2-1", "and", "1-0"]),
        ("a 53-year-old re-examined it", ["a", "53-year-old", "re-examined", "it"]),
        ("BRUSSELS 1996-08-22", ["BRUSSELS", "1996-08-22"]),
        ("anti- and pro-", ["anti-", "and", "pro-"]),
        ("a book - 10", ["a", "book", "-", "10"]),
        # Numbers.
        ("5,000 people", ["5,000", "people"]),
        ("rose 1.5 to 12.3%", ["rose", "1.5", "to", "12.3", "%"]),
        ("$17,000 and US$5 and C$2", ["$", "17,000", "and", "US$", "5", "and", "C$", "2"]),
        ("+0.05 and -0.05", ["+0.05", "and", "-", "0.05"]),
        ("at 14:30 in 1:54.342", ["at", "14:30", "in", "1:54.342"]),
        ("3/8 and .576", ["3/8", "and", ".576"]),
        ("S&P and AT&T", ["S&P", "and", "AT&T"]),
        ("1= Andrei", ["1=", "Andrei"]),
        ("rated AA+ by", ["rated", "AA+", "by"]),
        # Abbreviations keep their period inside a sentence...
        ("U.S. officials", ["U.S.", "officials"]),
        ("Acme Corp. said", ["Acme", "Corp.", "said"]),
        ("Mr. Smith met J. Doe", ["Mr.", "Smith", "met", "J.", "Doe"]),
        ("at 3 p.m. on Friday", ["at", "3", "p.m.", "on", "Friday"]),
        ("U.S.-led talks", ["U.S.-led", "talks"]),
        ("then-U.S. envoy", ["then-U.S.", "envoy"]),
        ("No. 1 seed", ["No.", "1", "seed"]),
        ("Jones (U.S.) won", ["Jones", "(", "U.S.", ")", "won"]),
        # ...but give it up at the end of the text, as in CoNLL-2003 ("U.S .").
        ("in the U.S.", ["in", "the", "U.S", "."]),
        ("Acme Inc.  ", ["Acme", "Inc", "."]),
        ('said Salomon Bros."', ["said", "Salomon", "Bros", ".", '"']),
        ("He said No.", ["He", "said", "No", "."]),
        # Sentence-final periods after numbers are split; list numbers keep theirs.
        ("born in 1996.", ["born", "in", "1996", "."]),
        ("won 2-1.", ["won", "2-1", "."]),
        ("1. Pivotal 100-30", ["1.", "Pivotal", "100-30"]),
        ("Results\n2. Sweden 8.57", ["Results", "2.", "Sweden", "8.57"]),
        # Web addresses.
        ("see www.reuters.com.", ["see", "www.reuters.com", "."]),
        ("mail a.b@reuters.com.", ["mail", "a.b@reuters.com", "."]),
        ("(http://x.org/a?b=1).", ["(", "http://x.org/a?b=1", ")", "."]),
        # Unicode.
        ("naïve cafe\u0301", ["naïve", "cafe\u0301"]),
        ("hi😀 👍🏽", ["hi", "😀", "👍🏽"]),
        ("«Bonjour», dit-il.", ["«", "Bonjour", "»", ",", "dit-il", "."]),
        ("\ufeffEU rejects", ["\ufeff", "EU", "rejects"]),
        ("a\x00b", ["a", "\x00", "b"]),
        # Nothing to tokenize.
        ("", []),
        (" \t\n\r\u00a0\u2003\u3000\u2028\x1c", []),
    ],
)
def test_examples(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


def test_contractions_in_full() -> None:
    assert texts("They're here, we've won, I'll go, I'm in, he'd") == [
        *["They", "'re", "here", ",", "we", "'ve", "won", ",", "I", "'ll", "go", ","],
        *["I", "'m", "in", ",", "he", "'d"],
    ]


def test_offsets_are_exact() -> None:
    text = "  Hi,\tMr.  O'Brien's\u00a0team! "
    assert tokenize(text) == [
        Token("Hi", 2, 4),
        Token(",", 4, 5),
        Token("Mr.", 6, 9),
        Token("O'Brien", 11, 18),
        Token("'s", 18, 20),
        Token("team", 21, 25),
        Token("!", 25, 26),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("  \n ", []),
        ("One. Two! Three? Four", [["One", "."], ["Two", "!"], ["Three", "?"], ["Four"]]),
        (
            "He met Mr. Smith in the U.S. He left.",
            [["He", "met", "Mr.", "Smith", "in", "the", "U.S", "."], ["He", "left", "."]],
        ),
        # An abbreviation before a name or a lowercase word does not end the sentence.
        ("The U.S. Army won. Then it left.", [["The", "U.S.", "Army", "won", "."], ["Then"]]),
        ("J. R. Smith won at 3 p.m. on Friday.", [["J.", "R.", "Smith", "won", "at", "3"]]),
        ("Acme Inc. The firm", [["Acme", "Inc", "."], ["The", "firm"]]),
        ("Ask Dr. He knows.", [["Ask", "Dr.", "He", "knows", "."]]),
        # Decimals do not end a sentence.
        ("It rose 1.5 percent. Shares fell.", [["It", "rose", "1.5", "percent", "."], ["Shares"]]),
        # Closing quotes and brackets stay with their sentence, opening ones start the next.
        ('He said "no." Then left.', [["He", "said", '"', "no", ".", '"'], ["Then", "left", "."]]),
        ('He left. "Why?" she asked.', [["He", "left", "."], ['"', "Why", "?", '"', "she"]]),
        ("(It rained.) Then", [["(", "It", "rained", ".", ")"], ["Then"]]),
        ("Wait... The end", [["Wait", "..."], ["The", "end"]]),
        # A blank line ends a sentence without punctuation; a single line break does not.
        ("EU rejects call\n\nBRUSSELS 1996-08-22", [["EU", "rejects", "call"], ["BRUSSELS"]]),
        ("EU rejects\r\ncall", [["EU", "rejects", "call"]]),
        ("Acme Inc.\n\nNext", [["Acme", "Inc", "."], ["Next"]]),
        ("停了。他走了", [["停了", "。"], ["他走了"]]),
    ],
)
def test_sentence_examples(text: str, expected: list[list[str]]) -> None:
    got = sentence_texts(text)
    assert len(got) == len(expected)
    for sentence, want in zip(got, expected, strict=True):
        assert sentence[: len(want)] == want


def test_sentence_offsets_index_the_original_text() -> None:
    text = "Shares in Acme Inc. The firm said.\n\nNext one!"
    sentences = split_sentences(text)
    assert [len(s) for s in sentences] == [5, 4, 3]
    assert sentences[0][-2:] == [Token("Inc", 15, 18), Token(".", 18, 19)]
    assert sentences[2][0] == Token("Next", 36, 40)


def check_tokens(text: str, tokens: list[Token]) -> None:
    """The invariants every tokenization of ``text`` must satisfy."""
    covered = [0] * len(text)
    previous_end = 0
    for token in tokens:
        assert token.text, "empty token"
        assert text[token.start : token.end] == token.text
        assert not any(c.isspace() for c in token.text), token
        assert token.start >= previous_end, "tokens overlap or are out of order"
        previous_end = token.end
        for i in range(token.start, token.end):
            covered[i] += 1
    for i, char in enumerate(text):
        assert covered[i] == (0 if char.isspace() else 1), (i, char)


# Arbitrary Unicode rarely produces the interesting cases, so also draw from characters the
# tokenizer treats specially.
_TRICKY = st.text(
    alphabet=st.sampled_from(
        list("aAnNtTsSdUx19 .,;:!?-+=&$%'’\"()[]\n\r\t\u00a0\u2029\u200d\ufe0f\u0301😀🇫🇷…。")
    )
)
# Nor does it often produce abbreviations next to sentence openers or blank lines.
_SNIPPETS = st.lists(
    st.sampled_from(
        ["U.S.", "Inc.", "Mr.", "J.", "p.m.", "No.", "The", "he", "don't", "'s", "2-1", "5,000"]
        + [" ", "\n\n", "\r\n", ".", "?", '"', ")", "(", "-", "x"]
    )
).map("".join)
_ANY_TEXT = st.one_of(st.text(), _TRICKY, _SNIPPETS)


@settings(max_examples=300, deadline=None)
@given(_ANY_TEXT)
def test_tokenize_invariants(text: str) -> None:
    check_tokens(text, tokenize(text))


@settings(max_examples=300, deadline=None)
@given(_ANY_TEXT)
def test_split_sentences_invariants(text: str) -> None:
    sentences = split_sentences(text)
    assert all(sentences), "empty sentence"
    flat = [token for sentence in sentences for token in sentence]
    check_tokens(text, flat)
    # Sentence splitting only ever cuts a period off a token; it never merges tokens.
    assert {t.start for t in tokenize(text)} <= {t.start for t in flat}


@settings(deadline=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=["Zs", "Cc"]), min_size=1)))
def test_tokenize_is_independent_of_whitespace_kind(words: list[str]) -> None:
    # Which whitespace separates the words must not change the tokens.
    spaced = " ".join(words)
    other = "\u00a0".join(words)
    assert texts(spaced) == texts(other)


@settings(max_examples=500, deadline=None)
@given(_ANY_TEXT)
def test_tokenize_finds_what_its_regex_finds(text: str) -> None:
    # tokenize matches each run of non-whitespace on its own and takes ASCII words without
    # the regex: the tokens must be those of the regex over the whole text.
    expected = [Token(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]
    assert tokenize(text) == expected


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" \t\n\r\v\f\x1c\x85\u00a0\u2028\u2029x"))))
def test_paragraph_between_agrees_with_its_regex(gap: str) -> None:
    text = f"a{gap}b"
    expected = _PARAGRAPH_RE.search(text, 1, 1 + len(gap)) is not None
    assert _paragraph_between(text, 1, 1 + len(gap)) == expected
