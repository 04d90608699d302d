"""The deciding word: the word from which the BiGRU keeps a token's label.

A forward-only tagger labels token ``i`` from words ``0..i``; the BiGRU reads the whole
sentence. Where the two disagree, the BiGRU is made to read the sentence forward, as a person
would, until the evidence arrives: it tags the sentence's prefixes, the sentence cut after each
word ``j = i, i+1, …, n-1`` (the last one is the whole sentence), and

- ``t_j`` is the BiGRU's tag of token ``i`` reading words ``0..j`` (its Viterbi path there);
- the *final* tag is ``t_{n-1}``, the BiGRU's tag of the token in the whole sentence;
- the *deciding word* is word ``d``: the smallest ``j >= i`` with ``t_k`` = final for every
  ``k >= j`` (the first cut from which the token keeps its final tag, not the first at which
  it shows it once);
- the *curve* is ``p_j``, the BiGRU's probability (CRF marginal) of the final tag at token
  ``i`` reading words ``0..j``.

Prefixes, not deletions: dropping a word from the middle makes a sentence nobody wrote, while
a prefix is what a reader has seen so far, which is what the forward twin is stuck with. So
``d >= i`` always: no word before the token decides it. ``d == i`` says that the BiGRU gives
the final tag from the words up to the token already, and that its disagreement with the
forward twin is the two models' own, not later evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model.features import encode, given_out
from model.network import TaggerNetwork
from model.pipeline import Prediction
from model.vocab import Vocab


@dataclass(frozen=True, slots=True)
class Step:
    """What the BiGRU says of a token having read the words up to ``through``."""

    through: int  # index in the sentence of the last word read
    tag: str  # its tag of the token there
    probability: float  # its probability of the token's final tag there


@dataclass(frozen=True, slots=True)
class Deciding:
    """A token's deciding word and how its final tag's probability moved as words arrived."""

    token: int  # index of the token in its sentence
    word: int  # index of the deciding word: never below ``token``
    steps: list[Step]  # one per prefix, from the one ending at the token to the whole sentence

    @property
    def distance(self) -> int:
        """Words from the token to its deciding word (0: the token itself)."""
        return self.word - self.token


@dataclass(frozen=True, slots=True)
class Question:
    """One sentence's tokens whose deciding word is asked, with the BiGRU's tagging of it."""

    tokens: Sequence[str]
    tags: Sequence[str]  # the BiGRU's final tags
    probabilities: Sequence[float]  # its probability of each
    asked: Sequence[int]  # indices of the tokens whose deciding word is asked, ascending

    @property
    def cuts(self) -> range:
        """Last word of each prefix to tag: from the first token asked to the one before
        the sentence's last (the whole sentence is tagged already)."""
        return range(self.asked[0], len(self.tokens) - 1) if self.asked else range(0)

    def prefixes(self) -> list[list[str]]:
        """The sentence cut after each word of :attr:`cuts`."""
        return [list(self.tokens[: j + 1]) for j in self.cuts]

    def labels(self) -> list[list[str]]:
        """The final tags of each prefix's tokens: the labels whose probability is asked."""
        return [list(self.tags[: j + 1]) for j in self.cuts]

    def answer(self, predictions: Sequence[Prediction]) -> list[Deciding]:
        """The deciding word of each token asked, from the BiGRU's :class:`Prediction` of each
        of :meth:`prefixes`: its tags, and as scores its probabilities of :meth:`labels`."""
        if len(predictions) != len(self.cuts):
            raise ValueError(f"{len(predictions)} prefixes tagged, {len(self.cuts)} asked")
        out = []
        last = len(self.tokens) - 1
        for token in self.asked:
            final = self.tags[token]
            steps = [
                Step(j, p.tags[token], p.scores[token])
                for p, j in zip(predictions, self.cuts, strict=True)
                if j >= token
            ]
            steps.append(Step(last, final, self.probabilities[token]))
            word = last
            for step in reversed(steps):
                if step.tag != final:
                    break
                word = step.through
            out.append(Deciding(token, word, steps))
        return out


def padded_tokens(questions: Sequence[Question]) -> int:
    """What the prefixes of ``questions`` cost in one model call: prefixes x longest one."""
    cuts = [q.cuts for q in questions if q.cuts]
    return sum(len(c) for c in cuts) * max((c[-1] + 1 for c in cuts), default=0)


def label_probabilities(
    network: TaggerNetwork,
    vocab: Vocab,
    sentences: Sequence[Sequence[str]],
    labels: Sequence[Sequence[str]],
    device: torch.device | str = "cpu",
) -> list[Prediction]:
    """Each (non-empty) token list's tags, with each token's probability of the label that
    ``labels`` gives it (not of its own tag), all in one padded batch: one network call."""
    if not sentences:
        return []
    network.eval()
    with torch.inference_mode():
        batch = encode(sentences, vocab, network.config.max_word_chars)
        best, probs = given_out(vocab, *network.distributions(batch.to(device)))
        wanted = torch.zeros_like(best)
        for row, names in enumerate(labels):
            wanted[row, : len(names)] = torch.tensor([vocab.output_tags.index(t) for t in names])
        chosen = probs.gather(2, wanted.unsqueeze(2)).squeeze(2)
        best_rows, chosen_rows = best.cpu().numpy().tolist(), chosen.cpu().numpy().tolist()
    return [
        Prediction([vocab.output_tags[k] for k in best_rows[i][: len(s)]], chosen_rows[i][: len(s)])
        for i, s in enumerate(sentences)
    ]
