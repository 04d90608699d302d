"""The model's commands of ``bigru-ner``: train, evaluate, tag and analyze.

The program itself is :mod:`service.cli`, which adds ``serve``; ``python -m model.cli`` runs these
commands alone. Each command's ``_add_*`` function declares its flags and sets ``args.run``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TypeAlias

from model.bundled import DEFAULT_MODEL
from model.data import CASES

#: What ``bigru-ner --help`` says of the program.
DESCRIPTION = (
    "The ``bigru-ner`` command: train, evaluate, tag, analyze (and serve, once the service is\n"
    "installed)."
)
#: The subcommands of the program's parser, to which each ``_add_*`` function adds one.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add_train(commands: Commands) -> None:
    from model.training.config import TrainConfig
    from model.training.flags import HELP

    parser = commands.add_parser("train", help="train a tagger on CoNLL-style files")
    for name in ("train", "dev", "out"):
        parser.add_argument("--" + name, required=True, help=HELP[name])
    for option in fields(TrainConfig):
        name, default = option.name, option.default
        if name in {"train", "dev", "out"}:
            continue
        flag = "--" + name.replace("_", "-")
        text = HELP[name] + ("" if default is None else " (default: %(default)s)")
        if isinstance(default, bool):
            action = argparse.BooleanOptionalAction
            parser.add_argument(flag, action=action, default=default, help=text)
        else:
            # Field types are strings under postponed annotations: "int | None" -> int.
            kind = {"int": int, "float": float}.get(str(option.type).split(" ")[0], str)
            parser.add_argument(flag, type=kind, default=default, help=text)
    parser.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from model.training.config import TrainConfig
    from model.training.train import train

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    for name in ("embeddings", "embeddings_fill"):
        if values[name] in ("", "none"):
            values[name] = None
    scores = train(TrainConfig(**values))
    if scores is None:
        print("no epoch was trained", file=sys.stderr)
        return 1
    print(scores.table())
    return 0


def _add_evaluate(commands: Commands) -> None:
    parser = commands.add_parser("evaluate", help="entity-level scores on a CoNLL file")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="model directory")
    parser.add_argument(
        "--data", required=True, help="gold data: a CoNLL file, or texts with spans (.jsonl/.json)"
    )
    parser.add_argument("--json", action="store_true", help="print scores as JSON")
    parser.add_argument(
        "--case",
        choices=CASES,
        default="as-is",
        help="rewrite every token lower- or upper-case first (gold tags unchanged)",
    )
    parser.add_argument(
        "--label-map",
        metavar="TYPE=TYPE,...",
        help="score data with other entity types: rename them to the model's "
        "(e.g. person=PER,location=LOC,corporation=ORG,group=ORG); types not named, and the "
        "model's types that none is renamed to, count as O",
    )
    parser.add_argument("--predictions", help="write 'TOKEN GOLD PRED' lines here")
    parser.add_argument("--device", default="auto")
    parser.set_defaults(run=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from model.artifact import load
    from model.data import recase
    from model.device import resolve_device
    from model.spans import read_data
    from model.training.evaluate import evaluate, parse_label_map

    try:
        label_map = None if args.label_map is None else parse_label_map(args.label_map)
    except ValueError as error:
        print(f"bigru-ner evaluate: --label-map: {error}", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    loaded = load(args.model, device)
    sentences = recase(read_data(args.data, log=_note), args.case)
    with contextlib.ExitStack() as stack:
        out = None
        if args.predictions:
            out = stack.enter_context(Path(args.predictions).open("w", encoding="utf-8"))
        scores = evaluate(loaded, sentences, device, out, label_map)
    print(json.dumps(scores.to_json(), indent=1) if args.json else scores.table())
    return 0


def _add_tag(commands: Commands) -> None:
    # The command's flags and its engines live in model.corpus (bulk tagging of corpora).
    from model.corpus.command import add_tag

    add_tag(commands)


def _add_analyze(commands: Commands) -> None:
    from model.bundled import FORWARD_MODEL

    parser = commands.add_parser(
        "analyze",
        help="report what backward context buys: the BiGRU against its forward-only twin",
        description="Compare a bidirectional model with a forward-only one on a CoNLL file and on "
        "the bundled minimal pairs; write report.json, README.md and PNG plots to --out. Plots "
        "need matplotlib (pip install 'bigru-ner[analysis]').",
    )
    parser.add_argument(
        "--data", required=True, help="gold data: a CoNLL file, or texts with spans (.jsonl/.json)"
    )
    parser.add_argument("--out", required=True, help="directory for the report")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="the bidirectional model")
    parser.add_argument("--forward-model", default=str(FORWARD_MODEL), help="forward-only model")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--other", help="gold data from another source, scored too")
    parser.add_argument(
        "--label-map", metavar="TYPE=TYPE,...", help="--other's entity types as the models'"
    )
    parser.set_defaults(run=_run_analyze)


def _run_analyze(args: argparse.Namespace) -> int:
    import datetime
    import importlib.util
    import platform

    from model.analysis import report
    from model.analysis.analyze import Other, analyze
    from model.analysis.pairs import load_pairs
    from model.artifact import load
    from model.device import resolve_device
    from model.spans import read_data
    from model.training.evaluate import parse_label_map

    if importlib.util.find_spec("matplotlib") is None:  # an optional extra
        raise SystemExit("analyze draws with matplotlib: pip install 'bigru-ner[analysis]'")
    device = resolve_device(args.device)
    forward, both = load(args.forward_model, device), load(args.model, device)
    if forward.network.config.bidirectional or not both.network.config.bidirectional:
        raise SystemExit("--forward-model must be forward-only and --model bidirectional")
    other, command = None, f"--data {Path(args.data).name} --out {args.out}"
    if args.other:
        mapping = parse_label_map(args.label_map) if args.label_map else None
        other = Other(Path(args.other).name, read_data(args.other, log=_note), mapping)
        command += f" --other {other.name}" + (f" --label-map {args.label_map}" if mapping else "")
    results = analyze(read_data(args.data, log=_note), forward, both, load_pairs(), device, other)
    header = (
        f"Generated by `bigru-ner analyze {command}` on "
        f"{datetime.date.today().isoformat()} ({device.type} inference, {platform.machine()})."
    )
    report.write(results, Path(args.out), header)
    print(f"wrote {Path(args.out) / report.MARKDOWN_FILE}")
    return 0


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def add_commands(commands: Commands) -> None:
    """Add train, evaluate, tag and analyze to ``commands``."""
    for add in (_add_train, _add_evaluate, _add_tag, _add_analyze):
        add(commands)


def main(argv: Sequence[str] | None = None, more: Sequence[Callable[[Commands], None]] = ()) -> int:
    """Parse ``argv`` and run its command: the model's commands, and those ``more`` adds."""
    parser = argparse.ArgumentParser(prog="bigru-ner", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (add_commands, *more):
        add(commands)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
