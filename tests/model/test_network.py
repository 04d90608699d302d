import torch

from model.features import encode
from model.network import TaggerConfig, TaggerNetwork
from model.vocab import Vocab

VOCAB = Vocab(
    ["<pad>", "<unk>", "paris", "hilton", "arrived", "hosted", "the", "games", "."],
    ["<pad>", "<unk>", *"PHadeilnorstvmg."],
    ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"],
)


def network(bidirectional: bool, seed: int = 0) -> TaggerNetwork:
    torch.manual_seed(seed)
    config = TaggerConfig(
        num_words=len(VOCAB.words),
        num_chars=len(VOCAB.chars),
        num_tags=len(VOCAB.tags),
        word_dim=8,
        char_dim=6,
        char_filters=5,
        casing_dim=3,
        hidden=7,
        bidirectional=bidirectional,
    )
    model = TaggerNetwork(config).eval()
    with torch.no_grad():
        for p in model.crf.parameters():  # type: ignore[union-attr]
            p.normal_()
    return model


def decode(model: TaggerNetwork, sentences: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.inference_mode():
        return model.decode(encode(sentences, VOCAB, 32))


A = ["Paris", "Hilton", "arrived", "."]
B = ["Paris", "hosted", "the", "Games", "."]


def test_forward_only_outputs_for_a_token_ignore_later_tokens() -> None:
    model = network(bidirectional=False)
    with torch.inference_mode():
        emissions = model(encode([A, B], VOCAB, 32))
    assert torch.allclose(emissions[0, 0], emissions[1, 0])
    tags, probs = decode(model, [A, B])
    assert tags[0, 0] == tags[1, 0]
    assert torch.allclose(probs[0, 0], probs[1, 0])


def test_bidirectional_outputs_do_depend_on_later_tokens() -> None:
    model = network(bidirectional=True)
    with torch.inference_mode():
        emissions = model(encode([A, B], VOCAB, 32))
    assert not torch.allclose(emissions[0, 0], emissions[1, 0])


def test_results_do_not_depend_on_batch_padding() -> None:
    long_word = ["Paris", "Hiltonhiltonhiltonhilton", "hosted", "the", "Games", "in", "Paris", "."]
    for bidirectional in (True, False):
        model = network(bidirectional)
        alone_tags, alone_probs = decode(model, [A])
        tags, probs = decode(model, [long_word, A])
        assert torch.equal(tags[1, : len(A)], alone_tags[0])
        assert torch.allclose(probs[1, : len(A)], alone_probs[0], atol=1e-6)
        assert torch.all(tags[1, len(A) :] == 0)


def test_softmax_head_gives_probabilities_of_argmax() -> None:
    torch.manual_seed(0)
    config = TaggerConfig(
        num_words=len(VOCAB.words), num_chars=len(VOCAB.chars), num_tags=5, crf=False, hidden=4
    )
    model = TaggerNetwork(config).eval()
    tags, probs = decode(model, [A, B])
    with torch.inference_mode():
        full = model(encode([A, B], VOCAB, 32)).softmax(-1)
    assert torch.equal(tags[1], full[1].argmax(-1))
    assert torch.allclose(probs[1], full[1].max(-1).values)


def test_loss_trains_towards_gold_tags() -> None:
    model = network(bidirectional=True)  # eval mode: no dropout, so the loss is comparable
    batch = encode([A, B], VOCAB, 32)
    batch.tags = torch.tensor([[3, 4, 0, 0, 0], [1, 0, 0, 0, 0]])
    optimizer = torch.optim.Adam(
        [p for n, p in model.named_parameters() if n != "words.weight"], lr=0.05
    )
    first = float(model.loss(batch))
    for _ in range(30):
        optimizer.zero_grad()
        model.loss(batch).backward()
        optimizer.step()
    assert float(model.loss(batch)) < first / 2


def test_locked_dropout_shares_one_mask_across_positions() -> None:
    from model.network import LockedDropout

    layer = LockedDropout(0.5).train()
    out = layer(torch.ones(4, 7, 16))
    assert torch.equal(out, out[:, :1, :].expand_as(out))
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(layer.eval()(torch.ones(2, 3, 4)), torch.ones(2, 3, 4))
