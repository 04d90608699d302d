"""Tables, ratios and the issue's targets for bench/peers.py, from its JSON report."""

from __future__ import annotations

from typing import Any

from bench.turns import paired_ratio

Row = dict[str, Any]


def _table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    print(f"\n{title}")
    cells = [header, *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def _http_row(report: dict[str, Any], server: str, workload: str) -> Row | None:
    for row in report.get("http", []):
        if row["server"].startswith(server) and row["workload"] == workload:
            return dict(row)
    return None


def ratios(report: dict[str, Any]) -> list[Row]:
    """The batched service against each other server, per workload."""
    out = []
    workloads = dict.fromkeys(row["workload"] for row in report.get("http", []))
    for workload in workloads:
        ours = _http_row(report, "service batched", workload)
        for peer in ("service unbatched", "litserve", "plain fastapi"):
            other = _http_row(report, peer, workload)
            if ours and other:
                out.append(
                    {
                        "workload": workload,
                        "against": other["server"],
                        "words_per_s_ratio": round(
                            ours["words_per_s"] / max(other["words_per_s"], 1e-9), 2
                        ),
                        "p99_ms": ours["p99_ms"],
                        "their_p99_ms": other["p99_ms"],
                    }
                )
    return out


def targets(report: dict[str, Any]) -> list[Row]:
    """The targets of the serving-speed issue (v2), each with the measured value and whether
    it was met."""
    out: list[Row] = []
    inproc = {row["system"]: row for row in report.get("inprocess", [])}
    spacy = next((r["words_per_s"] for n, r in inproc.items() if n.startswith("spacy")), None)
    if spacy and "bigru-ner" in inproc:
        value = inproc["bigru-ner"]["words_per_s"] / spacy
        out.append(_target("in-process words/s >= 6x spaCy small", value, value >= 6))
    at64 = _http_row(report, "service batched", "1 sentence x 64")
    if at64 and spacy:
        value = at64["words_per_s"] / spacy
        met = value >= 3 and at64["p99_ms"] < 100
        name = "1 sentence x 64: >= 3x spaCy's in-process words/s, p99 < 100 ms"
        out.append(_target(name, value, met, at64["p99_ms"]))
    many = next(
        (r["workload"] for r in report.get("http", []) if " sentences x " in r["workload"]), ""
    )
    multi = _http_row(report, "service batched", many)
    other = _http_row(report, "litserve", many)
    if multi and other:
        value = multi["words_per_s"] / other["words_per_s"]
        met = value >= 1.5 and multi["p99_ms"] <= other["p99_ms"]
        name = f"{many}: >= 1.5x {other['server']} at equal or better p99"
        out.append(_target(name, value, met, multi["p99_ms"], other["p99_ms"]))
    alone = _http_row(report, "service batched", "1 sentence x 1")
    plain = _http_row(report, "plain fastapi", "1 sentence x 1")
    if alone and plain:
        value = alone["p50_ms"] / plain["p50_ms"]
        name = "1 sentence x 1: p50 no higher than plain FastAPI's (ours / theirs)"
        out.append(_target(name, value, value <= 1))
    turns = report.get("one_connection_in_turns", {}).get("runs", {})
    if {"service batched", "plain fastapi"} <= set(turns):
        value = paired_ratio(turns, "service batched", "plain fastapi")
        rounds = len(turns["plain fastapi"])
        name = f"1 sentence x 1 in turns, median of {rounds} rounds' p50 ratios: no higher"
        out.append(_target(name, value, value <= 1))
    model = {row["batch_size"]: row for row in report.get("model", [])}
    if 64 in model:
        value = model[64]["ratio"]
        out.append(_target("model at batch 64 >= 80% of bare nn.GRU", value, value >= 0.8))
    return out


def _target(name: str, value: float, met: bool, *p99: float) -> Row:
    row: Row = {"target": name, "value": round(value, 2), "met": met}
    if p99:
        row["p99_ms"] = list(p99)
    return row


def print_report(report: dict[str, Any]) -> None:
    print(f"{report['date']}  {report['machine']}  torch threads {report['torch_threads']}")
    start, end = report["load_average_at_start"], report["load_average_at_end"]
    print(f"load average at start {start}, at end {end}")
    if "model" in report:
        _table(
            "1. Model only (tokens/s, inference mode)",
            ["batch", "BiGRU-CRF decode", "forward only", "bare nn.GRU", "ratio", "padded T"],
            [
                [
                    r["batch_size"],
                    r["tokens_per_s"],
                    r["forward_tokens_per_s"],
                    r["gru_tokens_per_s"],
                    r["ratio"],
                    r["mean_padded_length"],
                ]
                for r in report["model"]
            ],
        )
    if "inprocess" in report:
        first = report["inprocess"][-1]["words_per_s"]
        _table(
            "2. In-process tagging, text to entities (words/s)",
            ["system", "words/s", "seconds", "entities", "x spaCy"],
            [
                [
                    r["system"],
                    r["words_per_s"],
                    r["seconds"],
                    r["entities"],
                    r["words_per_s"] / first,
                ]
                for r in report["inprocess"]
            ],
        )
    if "http" in report:
        _table(
            "3./4. HTTP under wrk load",
            ["server", "load", "req/s", "words/s", "p50 ms", "p95 ms", "p99 ms", "batch", "errors"],
            [
                [
                    r["server"],
                    r["workload"],
                    r["requests_per_s"],
                    r["words_per_s"],
                    r["p50_ms"],
                    r["p95_ms"],
                    r["p99_ms"],
                    r["mean_batch_size"],
                    r["errors"],
                ]
                for r in report["http"]
            ],
        )
        _table(
            "Service batched against the others (words/s ratio)",
            ["load", "against", "ratio", "our p99", "their p99"],
            [
                [
                    r["workload"],
                    r["against"],
                    r["words_per_s_ratio"],
                    r["p99_ms"],
                    r["their_p99_ms"],
                ]
                for r in report["ratios"]
            ],
        )
    turns = report.get("one_connection_in_turns", {}).get("runs", {})
    if turns:
        _table(
            "1 sentence x 1, the two servers in turns (p50 ms a round, then the median)",
            [
                "server",
                *(f"round {i + 1}" for i in range(len(next(iter(turns.values()))))),
                "median",
            ],
            [
                [
                    name,
                    *(r["p50_ms"] for r in runs),
                    report["one_connection_in_turns"]["medians"][name]["p50_ms"],
                ]
                for name, runs in turns.items()
            ],
        )
    _table(
        "Targets",
        ["target", "value", "met"],
        [[t["target"], t["value"], "yes" if t["met"] else "NO"] for t in report["targets"]],
    )
