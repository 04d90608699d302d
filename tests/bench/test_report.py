"""The peer benchmark's verdicts: the one-connection target read from the runs in turns."""

from __future__ import annotations

from typing import Any

import pytest

from bench.report import targets
from bench.turns import medians


def _report(ours: list[float], theirs: list[float]) -> dict[str, Any]:
    runs = {
        "service batched": [{"p50_ms": p, "words_per_s": 1.0} for p in ours],
        "plain fastapi": [{"p50_ms": p, "words_per_s": 1.0} for p in theirs],
    }
    medians_ = {name: medians(r) for name, r in runs.items()}
    return {"one_connection_in_turns": {"runs": runs, "medians": medians_}}


@pytest.mark.parametrize(
    ("ours", "theirs", "value", "met"),
    [
        ([1.6, 9.0, 1.5], [1.7, 1.8, 1.6], 0.94, True),  # one slow round does not decide
        ([2.0, 1.9, 2.1], [1.9, 1.8, 2.0], 1.05, False),
        # Two rounds of three ahead; the medians (2.0 and 1.9) would say behind.
        ([1.0, 3.0, 2.0], [1.1, 3.3, 1.9], 0.91, True),
    ],
)
def test_the_one_connection_target_compares_the_turns_round_by_round(
    ours: list[float], theirs: list[float], value: float, met: bool
) -> None:
    [row] = targets(_report(ours, theirs))
    assert row["target"].startswith("1 sentence x 1 in turns, median of 3")
    assert (row["value"], row["met"]) == (value, met)


def test_no_turns_no_target() -> None:
    assert targets({}) == []
