"""The inference shortcuts give the answers of the straightforward computation.

The character CNN runs once per distinct spelling, in groups trimmed to their longest word,
and remembers the features of spellings it has seen;
Viterbi walks back with one gather per step; token ids are remembered across batches. Here
each is checked against a plain reference written out in the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import model.vocab as vocab_module
from model.charcnn import CharCNN
from model.data import read_conll
from model.features import encode, tag_sentences
from model.network import TaggerConfig, TaggerNetwork
from model.tagger import Tagger
from model.vocab import Vocab, casing


def reference_chars(cnn: CharCNN, chars: torch.Tensor) -> torch.Tensor:
    """Every word convolved at the full width of the batch, padding masked: (W, F)."""
    x = cnn.conv(cnn.embed(chars).transpose(1, 2))
    x = x.masked_fill((chars == 0).unsqueeze(1), float("-inf")).max(dim=2).values
    return torch.where(torch.isinf(x), torch.zeros_like(x), x)


def reference_viterbi(network: TaggerNetwork, emissions: torch.Tensor) -> list[int]:
    """The textbook Viterbi for one sequence (T, K), walked back in Python."""
    crf = network.crf
    assert crf is not None
    best = crf.start + emissions[0]
    back = []
    for t in range(1, emissions.size(0)):
        top, came_from = (best.unsqueeze(1) + crf.transitions).max(dim=0)
        best = top + emissions[t]
        back.append(came_from.tolist())
    path = [int((best + crf.end).argmax())]
    for came_from in reversed(back):
        path.append(came_from[path[-1]])
    return path[::-1]


def reference_tags(network: TaggerNetwork, vocab: Vocab, tokens: list[str]) -> list[str]:
    """One sentence alone, every step the plain way."""
    chars = torch.zeros(len(tokens), network.config.max_word_chars, dtype=torch.long)
    for i, token in enumerate(tokens):
        ids = vocab.char_ids(token, network.config.max_word_chars)
        chars[i, : len(ids)] = torch.tensor(ids)
    words = torch.tensor([vocab.word_id(t) for t in tokens])
    casings = torch.tensor([casing(t) for t in tokens])
    x = torch.cat(
        [network.words(words), reference_chars(network.chars, chars), network.casing(casings)],
        dim=-1,
    )
    h, _ = network.gru(x.unsqueeze(0))
    emissions = network.project(h)[0]
    return [vocab.tags[k] for k in reference_viterbi(network, emissions)]


@pytest.mark.parametrize("call_cost", [0, 100, 10**6])
def test_grouped_character_cnn_matches_full_width(call_cost: int) -> None:
    torch.manual_seed(0)
    config = TaggerConfig(num_words=10, num_chars=40, num_tags=3, char_dim=6, char_filters=8)
    cnn = CharCNN(config).eval()
    cnn.call_cost_chars = call_cost
    lengths = torch.randint(0, 13, (60,))
    chars = torch.randint(1, 40, (60, 12)) * (torch.arange(12)[None, :] < lengths[:, None])
    with torch.inference_mode():
        grouped, reference = cnn(chars), reference_chars(cnn, chars)
    assert torch.allclose(grouped, reference, atol=1e-6)
    assert torch.all(grouped[lengths == 0] == 0)


def test_remembered_character_features_match_fresh_ones() -> None:
    torch.manual_seed(0)
    config = TaggerConfig(num_words=10, num_chars=40, num_tags=3, char_dim=6, char_filters=8)
    cnn = CharCNN(config).eval()
    lengths = torch.randint(0, 13, (60,))
    chars = torch.randint(1, 40, (60, 12)) * (torch.arange(12)[None, :] < lengths[:, None])
    keys = [tuple(row[row != 0].tolist()) for row in chars]
    unique = list(dict.fromkeys(keys))
    rows = torch.stack([chars[keys.index(k)] for k in unique])
    with torch.inference_mode():
        cnn(rows[:20], unique[:20])  # remembered, then asked again among new ones
        mixed = list(range(10, 40))
        again = cnn(rows[mixed], [unique[i] for i in mixed])
        assert torch.allclose(again, reference_chars(cnn, rows[mixed]), atol=1e-6)
        assert len(cnn._seen) == 40
        with torch.no_grad():
            cnn.conv.weight.mul_(2)  # a weight changed: nothing remembered is used
        changed = cnn(rows[mixed], [unique[i] for i in mixed])
        assert torch.allclose(changed, reference_chars(cnn, rows[mixed]), atol=1e-6)
        assert not torch.allclose(changed, again)
        assert len(cnn._seen) == 30


def test_character_features_are_not_remembered_in_training() -> None:
    config = TaggerConfig(num_words=10, num_chars=40, num_tags=3, char_dim=6, char_filters=8)
    cnn = CharCNN(config).train()
    chars = torch.tensor([[3, 4, 0], [5, 6, 7]])
    features = cnn(chars, [(3, 4), (5, 6, 7)])
    features.sum().backward()  # still a graph to train through
    assert cnn.conv.weight.grad is not None and not cnn._seen


def test_a_batch_holds_each_spelling_once() -> None:
    vocab = Vocab(["<pad>", "<unk>", "a"], ["<pad>", "<unk>", "a", "b"], ["O"])
    batch = encode([["a", "b", "a"], ["b"]], vocab, 32)
    assert batch.chars.tolist() == [[0], [2], [3]]  # row 0: the empty spelling of padding
    assert batch.spelling.tolist() == [[1, 2, 1], [2, 0, 0]]


def test_remembered_token_ids_match_fresh_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vocab_module, "SEEN_TOKENS", 2)
    vocab = Vocab(["<pad>", "<unk>", "paris"], ["<pad>", "<unk>", *"Paris"], ["O"])
    for token in ["Paris", "Paris2", "xyz", "Paris", "PARIS"] * 2:
        fresh = (vocab.word_id(token), tuple(vocab.char_ids(token, 3)), casing(token))
        assert vocab.token_ids(token, 3) == fresh
        assert len(vocab._seen[3]) <= 2


def test_batched_tags_equal_the_reference_on_the_fixture_corpus(
    tiny_model: Path, corpus: dict[str, Path]
) -> None:
    tagger = Tagger.load(tiny_model)
    network, vocab = tagger.model.network, tagger.model.vocab
    sentences = [s.tokens for s in read_conll(corpus["train"]) + read_conll(corpus["dev"])]
    for most in (1, 7, 256):
        tags = [p.tags for p in tag_sentences(network, vocab, sentences, most=most)]
        with torch.inference_mode():
            assert tags == [reference_tags(network, vocab, s) for s in sentences]


def small_network(**overrides: Any) -> tuple[TaggerNetwork, Vocab]:
    vocab = Vocab(["<pad>", "<unk>", "paris", "the"], ["<pad>", "<unk>", *"Paristhe."], ["O", "B"])
    torch.manual_seed(0)
    config = TaggerConfig(4, len(vocab.chars), num_tags=2, hidden=5, **overrides)
    return TaggerNetwork(config), vocab


def test_packed_scoring_in_inference_equals_padded_scoring_in_training() -> None:
    network, vocab = small_network(dropout=0.0)
    batch = encode([["Paris", "the", "."], ["the"]], vocab, 32)
    trained = network.train()(batch)
    inferred = network.eval()(batch)
    assert torch.allclose(trained[batch.mask], inferred[batch.mask], atol=1e-6)


def test_a_batch_without_padding_scores_as_a_padded_one() -> None:
    network, vocab = small_network(dropout=0.0)
    even = [["Paris", "the", "."], ["the", "the", "Paris"]]
    network.eval()
    with torch.inference_mode():  # without padding the GRU runs unpacked
        alone = network(encode(even[:1], vocab, 32))
        both = network(encode(even, vocab, 32))
        padded = network(encode([*even, ["the", "Paris", "the", "."]], vocab, 32))
    assert torch.allclose(both, padded[:2, :3], atol=1e-6)
    assert torch.allclose(alone, padded[:1, :3], atol=1e-6)


def test_training_with_locked_dropout_takes_a_step() -> None:
    network, vocab = small_network(dropout=0.5, locked_dropout=True)
    batch = encode([["Paris", "the", "."], ["the"]], vocab, 32)
    batch.tags = torch.tensor([[1, 0, 0], [0, 0, 0]])
    loss = network.train().loss(batch)
    loss.backward()
    assert torch.isfinite(loss) and network.project.weight.grad is not None
