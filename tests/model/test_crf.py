import itertools

import pytest
import torch

from model.crf import CRF


def random_case(seed: int, batch: int = 3, length: int = 4, tags: int = 3):
    generator = torch.Generator().manual_seed(seed)
    crf = CRF(tags)
    with torch.no_grad():
        for p in crf.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
    emissions = torch.randn(batch, length, tags, generator=generator)
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    lengths[0] = length
    mask = torch.arange(length)[None, :] < lengths[:, None]
    return crf, emissions, mask


@torch.no_grad()
def path_score(crf: CRF, emissions: torch.Tensor, path: tuple[int, ...]) -> float:
    total = crf.start[path[0]] + emissions[0, path[0]]
    for t in range(1, len(path)):
        total = total + crf.transitions[path[t - 1], path[t]] + emissions[t, path[t]]
    return float(total + crf.end[path[-1]])


def all_paths(crf: CRF, emissions: torch.Tensor, n: int):
    for path in itertools.product(range(crf.num_tags), repeat=n):
        yield path, path_score(crf, emissions[:n], path)


@pytest.mark.parametrize("seed", range(20))
def test_viterbi_matches_brute_force(seed: int) -> None:
    crf, emissions, mask = random_case(seed)
    decoded = crf.viterbi(emissions, mask)
    for b in range(emissions.size(0)):
        n = int(mask[b].sum())
        best = max(all_paths(crf, emissions[b], n), key=lambda item: item[1])[0]
        assert decoded[b, :n].tolist() == list(best)
        assert decoded[b, n:].tolist() == [0] * (emissions.size(1) - n)


@pytest.mark.parametrize("seed", range(10))
def test_log_partition_and_score_match_brute_force(seed: int) -> None:
    crf, emissions, mask = random_case(seed)
    log_z = crf.log_partition(emissions, mask)
    tags = crf.viterbi(emissions, mask)
    scores = crf.score(emissions, tags, mask)
    for b in range(emissions.size(0)):
        n = int(mask[b].sum())
        totals = torch.tensor([s for _, s in all_paths(crf, emissions[b], n)])
        assert float(log_z[b]) == pytest.approx(float(totals.logsumexp(0)), abs=1e-4)
        path = tuple(tags[b, :n].tolist())
        assert float(scores[b]) == pytest.approx(path_score(crf, emissions[b], path), abs=1e-4)


@pytest.mark.parametrize("seed", range(10))
def test_marginals_match_brute_force(seed: int) -> None:
    crf, emissions, mask = random_case(seed)
    marginals = crf.marginals(emissions, mask)
    for b in range(emissions.size(0)):
        n = int(mask[b].sum())
        paths = list(all_paths(crf, emissions[b], n))
        weights = torch.tensor([s for _, s in paths]).softmax(0)
        expected = torch.zeros(n, crf.num_tags)
        for (path, _), w in zip(paths, weights, strict=True):
            for t, k in enumerate(path):
                expected[t, k] += w
        assert torch.allclose(marginals[b, :n], expected, atol=1e-5)
        assert torch.all(marginals[b, n:] == 0)


def test_marginals_of_confident_long_sentences_stay_probabilities() -> None:
    # Sharp scores over 40 positions: float32 rounding once put such marginals at 1.0003.
    crf, _, _ = random_case(0, tags=9)
    generator = torch.Generator().manual_seed(1)
    emissions = 10 * torch.randn(64, 40, 9, generator=generator)
    mask = torch.ones(64, 40, dtype=torch.bool)
    marginals = crf.marginals(emissions, mask)
    assert float(marginals.max()) <= 1.0 and float(marginals.min()) >= 0.0
    assert torch.allclose(marginals.sum(-1), torch.ones(64, 40), atol=1e-3)


def test_marginals_are_closer_to_float64_than_log_space_is() -> None:
    # Long, sharp sentences of varied lengths: where log space in float32 drifts.
    crf, _, _ = random_case(2, tags=9)
    generator = torch.Generator().manual_seed(4)
    emissions = 8 * torch.randn(16, 60, 9, generator=generator)
    mask = torch.arange(60)[None, :] < torch.randint(1, 61, (16,), generator=generator)[:, None]
    exact = crf.double().log_marginals(emissions.double(), mask)
    crf.float()
    scaled, logged = crf.marginals(emissions, mask), crf.log_marginals(emissions, mask)
    assert float((scaled.double() - exact).abs().max()) < 1e-5
    assert (scaled.double() - exact).abs().max() <= (logged.double() - exact).abs().max()
    assert torch.all(scaled[~mask] == 0)


def test_marginals_that_would_underflow_come_from_log_space() -> None:
    crf = CRF(3)
    with torch.no_grad():
        crf.start.copy_(torch.tensor([0.0, -500.0, -500.0]))
        crf.transitions.fill_(-200.0)  # every move but staying put is all but impossible
        crf.transitions.fill_diagonal_(0.0)
    emissions = torch.tensor([[[0.0, 0.0, 0.0], [-500.0, 0.0, -500.0], [0.0, 0.0, 0.0]]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    marginals = crf.marginals(emissions, mask)
    assert torch.isfinite(marginals).all()
    assert torch.equal(marginals, crf.log_marginals(emissions, mask))
    assert torch.allclose(marginals.sum(-1), torch.ones(1, 3))


def test_filtered_probabilities_ignore_later_positions() -> None:
    crf, emissions, mask = random_case(3, batch=1, length=5)
    before = crf.filtered(emissions, mask)
    changed = emissions.clone()
    changed[0, 3:] = torch.randn(2, crf.num_tags) * 10
    after = crf.filtered(changed, mask)
    assert torch.allclose(before[0, :3], after[0, :3])
    assert not torch.allclose(before[0, 3:], after[0, 3:])
    assert torch.allclose(before.sum(-1), torch.ones(1, 5))


def test_nll_is_positive_and_falls_when_gold_path_is_boosted() -> None:
    crf, emissions, mask = random_case(5)
    gold = crf.viterbi(emissions, mask).roll(1, dims=1) % crf.num_tags
    loss = crf.nll(emissions, gold, mask)
    assert float(loss) > 0
    boosted = emissions + 5 * torch.nn.functional.one_hot(gold, crf.num_tags)
    assert float(crf.nll(boosted, gold, mask)) < float(loss)
