"""Would document context help? Two cheap probes of it, on trained models, without training.

    D=../shared/data/conll2003
    python scripts/document_context.py --data $D/valid.txt runs/v2-bigru-s1 runs/v2-bigru-s2

The issue's idea is that a name in an all-caps headline reappears in mixed case below it, and
that a string is usually the same kind of entity throughout a document (Ratinov & Roth 2009).
Each probe uses the documents of a CoNLL file (``-DOCSTART-`` lines) at inference only:

- ``truecased``: every sentence written all in capitals (or, second figure, all in lower
  case) has its words rewritten as the document writes them inside its mixed-case sentences,
  the most frequent spelling past a sentence's first word; the model then tags that.
- ``voted``: each entity the model found takes the label that the same words (any case) got
  most often in the document, each occurrence weighted by its score.

If neither moves dev F1, the information that document context adds is already in the
sentence for this model; a learned pooling of states over a word's occurrences could still
find more, at the cost of document-shaped training batches and requests.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from model.artifact import LoadedModel, load
from model.data import Sentence, read_documents
from model.features import tag_sentences
from model.pipeline import Prediction, tags_to_spans
from model.training.evaluate import score


def writing(tokens: Sequence[str]) -> str:
    """How a sentence is written: ``upper``, ``lower``, ``mixed``, or ``none`` (no letters)."""
    letters = "".join(c for t in tokens for c in t if c.isalpha())
    if not letters:
        return "none"
    return "upper" if letters.isupper() else "lower" if letters.islower() else "mixed"


def truecased(document: Sequence[Sentence], which: Sequence[str] = ("upper",)) -> list[Sentence]:
    """The document with each sentence written as ``which`` rewritten in the spellings its
    mixed-case sentences use (past their first word); words never seen there stay."""
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for sentence in document:
        if writing(sentence.tokens) == "mixed":
            for token in sentence.tokens[1:]:
                spellings[token.lower()][token] += 1
    out = []
    for sentence in document:
        if writing(sentence.tokens) in which:
            tokens = [
                spellings[t.lower()].most_common(1)[0][0] if t.lower() in spellings else t
                for t in sentence.tokens
            ]
            sentence = Sentence(tokens, sentence.tags)
        out.append(sentence)
    return out


def voted(document: Sequence[Sentence], predictions: Sequence[Prediction]) -> list[list[str]]:
    """The document's predicted tags with each entity relabelled as the same words (any case)
    are most often labelled in it, weighted by the entities' mean scores."""
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    for sentence, predicted in zip(document, predictions, strict=True):
        for span in tags_to_spans(predicted.tags):
            words = " ".join(sentence.tokens[span.start : span.end]).lower()
            mean = sum(predicted.scores[span.start : span.end]) / (span.end - span.start)
            votes[words][span.label] += mean
    out = [list(p.tags) for p in predictions]
    for i, (sentence, predicted) in enumerate(zip(document, predictions, strict=True)):
        for span in tags_to_spans(predicted.tags):
            words = " ".join(sentence.tokens[span.start : span.end]).lower()
            label = votes[words].most_common(1)[0][0]
            out[i][span.start : span.end] = [f"I-{label}"] * (span.end - span.start)
            out[i][span.start] = f"B-{label}"
    return out


def tagged(loaded: LoadedModel, sentences: Sequence[Sentence]) -> tuple[float, list[Prediction]]:
    """Entity F1 of the model on ``sentences``, and its prediction of each."""
    predictions = tag_sentences(loaded.network, loaded.vocab, [s.tokens for s in sentences])
    f1 = score([s.tags for s in sentences], [p.tags for p in predictions]).f1
    return f1, predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data", required=True, type=Path, help="a CoNLL file with documents")
    args = parser.parse_args()
    documents = read_documents(args.data)
    sentences = [s for d in documents for s in d]
    kinds = Counter(writing(s.tokens) for s in sentences)
    print(f"{args.data}: {len(documents)} documents, {len(sentences)} sentences, {dict(kinds)}")
    print("| model | as written | truecased upper | and lower | voted |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for run in args.runs:
        loaded = load(run)
        base, predictions = tagged(loaded, sentences)
        upper = tagged(loaded, [s for d in documents for s in truecased(d)])[0]
        both = tagged(loaded, [s for d in documents for s in truecased(d, ("upper", "lower"))])[0]
        relabelled, k = [], 0
        for document in documents:
            n = len(document)
            relabelled += voted(document, predictions[k : k + n])
            k += n
        vote = score([s.tags for s in sentences], relabelled).f1
        row = " | ".join(f"{x:.4f} ({x - base:+.4f})" for x in (upper, both, vote))
        print(f"| {run} | {base:.4f} | {row} |")


if __name__ == "__main__":
    main()
