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

from model.tokenize.sentences import split_sentences
from model.tokenize.tokens import Token, tokenize

__all__ = ["Token", "split_sentences", "tokenize"]
