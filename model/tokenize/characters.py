"""The character classes of the tokenizer: punctuation, pictographs and invisible characters,
as bodies of regex character classes (``[...]``) that never hold whitespace."""

from __future__ import annotations

import re
from collections.abc import Iterable


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    """Body of a regex character class for the inclusive code point ``ranges``.

    Whitespace code points are dropped: several Unicode punctuation blocks contain spaces, and
    no token may ever contain whitespace.
    """
    chars = sorted({c for lo, hi in ranges for c in range(lo, hi + 1) if not chr(c).isspace()})
    parts: list[str] = []
    i = 0
    while i < len(chars):
        j = i
        while j + 1 < len(chars) and chars[j + 1] == chars[j] + 1:
            j += 1
        lo, hi = re.escape(chr(chars[i])), re.escape(chr(chars[j]))
        parts.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return "".join(parts)


def _cp(s: str) -> list[tuple[int, int]]:
    return [(ord(c), ord(c)) for c in s]


# Characters that never belong to a word. ASCII "_" is deliberately absent: it only shows up in
# identifiers and underlined text, where splitting would not help the tagger.
_PUNCT_RANGES: list[tuple[int, int]] = [
    *_cp("!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~"),
    *_cp("¡¢£¤¥¦§¨©«¬®¯°±´¶·¸»¿×÷"),
    (0x037E, 0x037E),  # Greek question mark
    (0x0387, 0x0387),  # Greek ano teleia
    (0x0589, 0x058A),  # Armenian full stop, hyphen
    (0x05BE, 0x05BE),  # Hebrew maqaf
    (0x05C0, 0x05C0),
    (0x05C3, 0x05C3),
    (0x060C, 0x060D),  # Arabic comma
    (0x061B, 0x061B),  # Arabic semicolon
    (0x061D, 0x061F),  # Arabic question mark
    (0x066A, 0x066D),
    (0x06D4, 0x06D4),  # Arabic full stop
    (0x0964, 0x0965),  # Devanagari danda
    (0x0E4F, 0x0E4F),
    (0x0E5A, 0x0E5B),
    (0x1361, 0x1368),  # Ethiopic punctuation
    (0x166D, 0x166E),
    (0x1800, 0x180A),  # Mongolian punctuation
    (0x2010, 0x2027),  # dashes, quotes, bullets, ellipsis
    (0x2030, 0x205E),
    (0x20A0, 0x20CF),  # currency signs
    (0x2122, 0x2122),  # trade mark sign
    (0x2E00, 0x2E7F),  # supplemental punctuation
    (0x3001, 0x3003),  # CJK comma, full stop
    (0x3008, 0x3011),  # CJK brackets
    (0x3014, 0x301F),
    (0x30FB, 0x30FB),
    (0xFE10, 0xFE19),  # vertical forms
    (0xFE30, 0xFE6B),  # compatibility and small forms
    (0xFF01, 0xFF0F),  # fullwidth ASCII punctuation
    (0xFF1A, 0xFF20),
    (0xFF3B, 0xFF40),
    (0xFF5B, 0xFF65),
]

# Emoji and other pictographs: split off from adjacent letters, one token per glyph.
_SYMBOL_RANGES: list[tuple[int, int]] = [
    (0x2190, 0x2BFF),  # arrows, math operators, technical, dingbats, misc symbols
    (0x1F000, 0x1FAFF),  # emoji, mahjong, playing cards, pictographs
]

# Invisible format and control characters: a token of their own, so that a stray BOM or
# direction mark does not turn a known word into an unknown one.
_CONTROL_RANGES: list[tuple[int, int]] = [
    (0x0000, 0x001F),
    (0x007F, 0x009F),
    (0x00AD, 0x00AD),  # soft hyphen
    (0x200B, 0x200B),  # zero-width space (ZWNJ/ZWJ stay inside words: Indic, Persian, emoji)
    (0x200E, 0x200F),  # LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, bidi isolates
    (0xFEFF, 0xFEFF),  # BOM
    (0xFFF9, 0xFFFB),
]

# What may follow an emoji inside one glyph: skin tones, variation selectors, keycap, tags.
EMOJI_MODIFIER = _char_class(
    [(0x1F3FB, 0x1F3FF), (0xFE0E, 0xFE0F), (0x20E3, 0x20E3), (0xE0020, 0xE007F)]
)

#: What a word never holds: punctuation, pictographs, invisible characters.
NOT_WORD = _char_class(_PUNCT_RANGES + _SYMBOL_RANGES + _CONTROL_RANGES)
#: Pictographs: each one a token of its own, with its modifiers.
SYMBOL = _char_class(_SYMBOL_RANGES)
