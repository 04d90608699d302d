"""The plots of the backward-context report: bars and lines comparing the two models.

matplotlib (the ``analysis`` extra) draws with the Agg backend, so no display is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Colour and legend name of each model.
STYLE = {"forward": ("#9ca3af", "forward-only GRU"), "bidirectional": ("#2563eb", "BiGRU")}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bars(
    path: Path, title: str, groups: Sequence[str], values: Mapping[str, Sequence[float | None]]
) -> None:
    """Grouped bars, one per model and group, labelled with their value."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 3.8))
    width = 0.8 / len(values)
    for k, (model, heights) in enumerate(values.items()):
        colour, name = STYLE[model]
        positions = [g + (k - (len(values) - 1) / 2) * width for g in range(len(groups))]
        drawn = axes.bar(positions, [h or 0.0 for h in heights], width, color=colour, label=name)
        axes.bar_label(
            drawn,
            labels=[f"{h:.3f}" if h is not None else "" for h in heights],
            fontsize=7,
            padding=2,
        )
    axes.set_xticks(range(len(groups)), groups)
    axes.set_ylim(0, 1.22)  # room for the legend above the bars
    axes.set_title(title)
    axes.legend(loc="upper left", ncols=len(values), fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def lines(
    path: Path,
    title: str,
    x: Sequence[str],
    values: Mapping[tuple[str, str], Sequence[float | None]],
    xlabel: str,
    dashed: str,
) -> None:
    """One line per (model, what) series, in the model's colour; the ``dashed`` ones dashed.
    Missing values (None) are skipped."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 3.8))
    for (model, what), ys in values.items():
        colour, name = STYLE[model]
        points = [(i, y) for i, y in enumerate(ys) if y is not None]
        axes.plot(
            [i for i, _ in points],
            [y for _, y in points],
            marker="o",
            color=colour,
            linestyle="--" if what == dashed else "-",
            label=f"{name}, {what}",
        )
    axes.set_xticks(range(len(x)), x)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("accuracy")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
