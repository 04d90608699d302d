"""The backward-context report on disk: ``report.json``, ``README.md`` and PNG plots.

The numbers come from :func:`model.analysis.analyze`; this module only lays them out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model.analysis import plots
from model.analysis.accuracy import MODELS

JSON_FILE, MARKDOWN_FILE = "report.json", "README.md"
F1_PLOT, ROLE_PLOT = "entity_f1.png", "accuracy_by_role.png"
FOLLOWING_PLOT = "accuracy_by_following.png"
DECIDING_PLOT = "deciding_distance.png"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _cells(forward: float | None, both: float | None) -> str:
    gain = "–" if forward is None or both is None else f"{100 * (both - forward):+.1f}"
    return f"{_share(forward)} | {_share(both)} | {gain} |"


def _row(name: str, forward: float | None, both: float | None) -> str:
    return f"| {name} | {_cells(forward, both)}"


def write_plots(report: dict[str, Any], out: Path) -> None:
    """The four plots of the report, into ``out``."""
    scores = report["entity_scores"]
    types = sorted(scores["bidirectional"]["per_type"])
    plots.bars(
        out / F1_PLOT,
        "Entity F1 (conlleval rules)",
        [*types, "overall"],
        {m: [scores[m]["per_type"][t]["f1"] for t in types] + [scores[m]["f1"]] for m in MODELS},
    )
    roles, first = report["by_role"], report["first_of_multi_token"]
    pairs = report["minimal_pairs"]
    plots.bars(
        out / ROLE_PLOT,
        "Token accuracy: by gold role, and where later words decide",
        ["B-", "I-", "O", "first of\nmulti-token", "minimal-pair\nopenings"],
        {
            m: [roles[r][m] for r in "BIO"] + [first[m], pairs[m]["opening_accuracy"]]
            for m in MODELS
        },
    )
    following = report["by_following"]
    series = {(m, "entity tokens"): [row["entity"][m] for row in following] for m in MODELS}
    series |= {(m, "all tokens"): [row[m] for row in following] for m in MODELS}
    plots.lines(
        out / FOLLOWING_PLOT,
        "Token accuracy against the tokens that follow",
        [row["following"] for row in following],
        series,
        "tokens after it in the sentence",
        dashed="all tokens",
    )
    distances = report["deciding_words"]["distance"]
    plots.bars(
        out / DECIDING_PLOT,
        "Share of changed tokens by words to their deciding word",
        [row["distance"] for row in distances],
        {"bidirectional": [row["share"] for row in distances]},
    )


def _deciding(report: dict[str, Any]) -> list[str]:
    """The section on deciding words: how far they lie, and the most frequent ones per type."""
    found = report["deciding_words"]
    mean = found["mean_distance"]
    out = [
        "## Which later word decided it",
        "",
        "For each token whose label the backward direction changed, the BiGRU tags the "
        "sentence cut after each word from the token on; the deciding word is the first cut "
        "from which the token keeps its final label, 0 words away when the BiGRU labels it so "
        "from the words up to it already ([definition](../deciding-word.md)). "
        f"{found['by_later_word']} of the {found['changed']} changed tokens were decided by a "
        "later word" + ("." if mean is None else f"; the mean distance is {mean:.2f} words."),
        "",
        "| words to the deciding word | tokens | share |",
        "| --- | ---: | ---: |",
        *[f"| {r['distance']} | {r['tokens']} | {_share(r['share'])} |" for r in found["distance"]],
        "",
        f"![Distance to the deciding word]({DECIDING_PLOT})",
        "",
        "### The later words that decide most often, per label the BiGRU gives",
        "",
    ]
    if not found["by_type"]:
        return [*out, "None.", ""]
    for kind, rows in found["by_type"].items():
        out += [
            f"#### {kind}",
            "",
            "| deciding word | tokens | forward-only said | example |",
            "| --- | ---: | --- | --- |",
        ]
        for row in rows:
            example = row["example"].replace("|", "\\|")
            word = row["word"].replace("|", "\\|")
            out.append(f"| {word} | {row['count']} | {row['forward']} | {example} |")
        out.append("")
    return out


def _errors(rows: list[dict[str, Any]], model: str, said: str) -> list[str]:
    lines = [f"| gold | {said} said | tokens | example |", "| --- | --- | ---: | --- |"]
    for row in rows:
        example = row["example"].replace("|", "\\|")
        lines.append(f"| {row['gold']} | {row[model]} | {row['count']} | {example} |")
    return lines if rows else ["None."]


def _other_row(other: dict[str, Any] | None) -> list[str]:
    if other is None:
        return []
    name = f"entity F1, {other['data']} (its types as the models')"
    return [_row(name, other["forward"], other["bidirectional"])]


def markdown(report: dict[str, Any], header: str) -> str:
    """The report as Markdown, under ``header`` (what was run, where and when)."""
    s, roles, first = report["entity_scores"], report["by_role"], report["first_of_multi_token"]
    pairs, changes, data = report["minimal_pairs"], report["changes"], report["data"]
    f, b = s["forward"], s["bidirectional"]
    out = [
        "# What backward context buys: the BiGRU against its forward-only twin",
        "",
        header,
        "",
        f"Models: `{report['models']['bidirectional']}` (BiGRU, reads the whole sentence) and "
        f"`{report['models']['forward']}` (forward-only GRU, labels each token from the words "
        f"up to it). Data: {data['sentences']} sentences, {data['tokens']} tokens.",
        "",
        "| measure | forward-only | BiGRU | gain (points) |",
        "| --- | ---: | ---: | ---: |",
        _row("entity F1", f["f1"], b["f1"]),
        _row("entity precision", f["precision"], b["precision"]),
        _row("entity recall", f["recall"], b["recall"]),
        *[
            _row(f"entity F1, the text {case}-cased", scores["forward"], scores["bidirectional"])
            for case, scores in report.get("entity_f1_by_case", {}).items()
        ],
        *_other_row(report.get("entity_f1_other")),
        _row(
            "token accuracy",
            report["token_accuracy"]["forward"],
            report["token_accuracy"]["bidirectional"],
        ),
        *[
            _row(
                f"token accuracy, gold {r}{'-' if r != 'O' else ''} ({roles[r]['tokens']} tokens)",
                roles[r]["forward"],
                roles[r]["bidirectional"],
            )
            for r in "BIO"
        ],
        _row(
            f"first token of multi-token entities ({first['tokens']})",
            first["forward"],
            first["bidirectional"],
        ),
        _row(
            f"minimal-pair openings ({pairs['opening_tokens']} tokens)",
            pairs["forward"]["opening_accuracy"],
            pairs["bidirectional"]["opening_accuracy"],
        ),
        "",
        "## Entity F1 per type",
        "",
        "| type | support | forward-only | BiGRU | gain (points) |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[
            f"| {t} | {b['per_type'][t]['support']} | "
            + _cells(f["per_type"][t]["f1"], b["per_type"][t]["f1"])
            for t in sorted(b["per_type"])
        ],
        "",
        f"![Entity F1 per type]({F1_PLOT})",
        "",
        "## Token accuracy by role, and where later words decide",
        "",
        'The first token of a multi-token entity ("Paris" of "Paris Hilton") is where the '
        "forward-only model has to commit before the evidence arrives.",
        "",
        f"![Token accuracy by role]({ROLE_PLOT})",
        "",
        "## Accuracy against the number of tokens that follow",
        "",
        "| tokens after | tokens | forward-only | BiGRU | entity tokens | forward-only | BiGRU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {r['following']} | {r['tokens']} | {_share(r['forward'])} | "
            f"{_share(r['bidirectional'])} | {r['entity']['tokens']} | "
            f"{_share(r['entity']['forward'])} | {_share(r['entity']['bidirectional'])} |"
            for r in report["by_following"]
        ],
        "",
        f"![Accuracy against the tokens that follow]({FOLLOWING_PLOT})",
        "",
        "## What the backward direction changes",
        "",
        f"It changes the label of {changes['changed']} tokens: {changes['fixed']} from wrong to "
        f"right, {changes['caused']} from right to wrong, {changes['both_wrong']} from one "
        "wrong label to another.",
        "",
        "### The most frequent errors it fixes",
        "",
        *_errors(report["fixed_by_backward"], "forward", "forward-only"),
        "",
        "### The most frequent errors it causes",
        "",
        *_errors(report["caused_by_backward"], "bidirectional", "BiGRU"),
        "",
        *_deciding(report),
        "## Minimal pairs",
        "",
        f"{pairs['pairs']} made-up pairs (`model/analysis/minimal_pairs.jsonl`) share an opening "
        'whose label the later words decide ("Paris Hilton arrived …" / "Paris hosted …"). The '
        "forward-only model cannot label the opening differently in the two sentences.",
        "",
        "| | forward-only | BiGRU |",
        "| --- | ---: | ---: |",
        f"| openings labelled right ({pairs['opening_tokens']} tokens) | "
        f"{_share(pairs['forward']['opening_accuracy'])} | "
        f"{_share(pairs['bidirectional']['opening_accuracy'])} |",
        f"| all tokens labelled right ({pairs['tokens']}) | "
        f"{_share(pairs['forward']['token_accuracy'])} | "
        f"{_share(pairs['bidirectional']['token_accuracy'])} |",
        f"| pairs whose openings it labels differently | {pairs['forward']['told_apart']} | "
        f"{pairs['bidirectional']['told_apart']} |",
        "",
    ]
    return "\n".join(out)


def write(report: dict[str, Any], out: Path, header: str) -> None:
    """``report.json``, ``README.md`` and the plots, into ``out`` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / JSON_FILE).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    (out / MARKDOWN_FILE).write_text(markdown(report, header), encoding="utf-8")
    write_plots(report, out)
