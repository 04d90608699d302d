"""Reading the service's Prometheus page: samples by name and labels, totals, the change
between two pages, and percentiles from a histogram's buckets."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

#: Each sample of a page by name: its labels and value.
Samples = dict[str, list[tuple[dict[str, str], float]]]


def samples(page: str) -> Samples:
    """Every sample of a Prometheus text page, by name."""
    out: Samples = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def total(page: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
    return sum(v for got, v in page.get(name, []) if labels.items() <= got.items())


def change(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much ``name`` (summed as :func:`total` does) grew from one page to the next."""
    return total(after, name, **labels) - total(before, name, **labels)


def histogram_ms(
    before: Samples, after: Samples, name: str, q: float, **labels: str
) -> float | None:
    """The ``q`` quantile (0 to 1), in ms, of what histogram ``name`` observed between two
    pages: the upper bound of the bucket it falls in (None if nothing was observed)."""
    counts: dict[float, float] = {}
    for got, value in after.get(f"{name}_bucket", []):
        if labels.items() <= got.items():
            bound = float(got["le"])
            counts[bound] = counts.get(bound, 0.0) + value
    for got, value in before.get(f"{name}_bucket", []):
        if labels.items() <= got.items() and float(got["le"]) in counts:
            counts[float(got["le"])] -= value
    bounds = sorted(counts)
    if not bounds or counts[bounds[-1]] <= 0:
        return None
    wanted = q * counts[bounds[-1]]
    bound = next(b for b in bounds if counts[b] >= wanted)
    return round(bound * 1000, 2)
