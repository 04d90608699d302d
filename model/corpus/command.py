"""``bigru-ner tag``: the entities of a text, or a whole corpus tagged on this machine or Ray."""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model.bundled import DEFAULT_MODEL
from model.corpus.records import FORMATS, MAX_CHARS, Format, Limits, format_of
from model.corpus.rows import Job, OutputFormat
from model.corpus.shards import OutputDir, Shard

FILE_SUFFIXES: dict[str, OutputFormat] = {".jsonl": "jsonl", ".parquet": "parquet"}
_HELP = "print the entities of text, or tag a corpus (text lines, JSONL, Parquet)"
_DESCRIPTION = (
    "Tag the text given, or every record of --input into --output: a .jsonl or .parquet file, "
    "a directory of shards (resumable: a rerun does only what is missing), or standard output. "
    "Bad records go to a rejects file with their reason."
)


def add_tag(commands: Any) -> None:
    """Add the ``tag`` command to a parser's subcommands."""
    parser = commands.add_parser("tag", help=_HELP, description=_DESCRIPTION)
    parser.add_argument("text", nargs="*", help="text to tag (prints its entities)")
    parser.add_argument(
        "--input", action="append", default=[], help="file, directory or glob (repeatable)"
    )
    parser.add_argument("--input-format", choices=("auto", *FORMATS), default="auto")
    parser.add_argument("--output", help="a .jsonl or .parquet file, or a directory of shards")
    parser.add_argument("--format", choices=("jsonl", "parquet"), help="output format")
    parser.add_argument(
        "--rejects", help="rejects file of a file or standard output (default: beside the file)"
    )
    parser.add_argument("--tokens", action="store_true", help="write each record's tokens too")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="model directory")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda:N")
    parser.add_argument(
        "--workers", type=int, help="processes or Ray actors (default: every core; 1 on CUDA)"
    )
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--batch-size", type=int, default=256, help="records tagged together")
    parser.add_argument("--max-chars", type=int, default=MAX_CHARS, help="longer texts: rejects")
    parser.add_argument("--text-field", default="text", help="the field or column of the text")
    parser.add_argument("--id-field", default="id", help="the field or column of the id")
    parser.add_argument("--shard-mb", type=float, help="shard size (default: from the input)")
    parser.set_defaults(run=run_tag)


def run_tag(args: argparse.Namespace) -> int:
    """Run ``bigru-ner tag``."""
    if not args.input:
        return _print_entities(args)
    limits = Limits(args.max_chars, args.text_field, args.id_field)
    if args.engine == "ray":
        # Each actor resolves the device on its own node: the driver does without torch.
        return _run_on_ray(args, Job(args.model, args.device, limits, args.batch_size, args.tokens))
    from model.device import resolve_device

    device = str(resolve_device(args.device))
    if args.workers is None and device != "cpu":
        args.workers = 1  # one process has the GPU to itself
    job = Job(args.model, device, limits, args.batch_size, args.tokens)
    return _run_local(args, _inputs(args.input, args.input_format), job)


def _run_on_ray(args: argparse.Namespace, job: Job) -> int:
    try:
        from model.corpus.on_ray import run_on_ray
    except ModuleNotFoundError as error:
        raise SystemExit(f"--engine ray: {error}; pip install 'bigru-ner[ray]'") from None
    if args.output is None:
        raise SystemExit("bigru-ner tag --engine ray: give --output (a directory or URL)")
    forced = None if args.input_format == "auto" else args.input_format
    # Local names are expanded here (Ray takes no globs); URLs go to Ray as they are.
    local = [p for p, _ in _inputs([i for i in args.input if "://" not in i], "auto")]
    paths = local + [i for i in args.input if "://" in i]
    fmt = _output_format(args)
    print(run_on_ray(paths, forced, args.output, fmt, job, args.workers), file=sys.stderr)
    return 0


def _print_entities(args: argparse.Namespace) -> int:
    from model.device import resolve_device
    from model.tagger import Tagger

    if not args.text:
        raise SystemExit("give text to tag, or --input FILE")
    tagger = Tagger.load(args.model, resolve_device(args.device))
    for entity in tagger.tag([" ".join(args.text)])[0].entities:
        print(f"{entity.start}\t{entity.end}\t{entity.label}\t{entity.text}\t{entity.score:.3f}")
    return 0


def _inputs(patterns: list[str], forced: str) -> list[tuple[str, Format]]:
    """Files named, found under directories or matched by globs, each with its format."""
    paths: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) or [pattern]
        for match in matches:
            if os.path.isdir(match):
                found = sorted(
                    str(p)
                    for p in Path(match).rglob("*")
                    if p.is_file() and not p.name.startswith(("_", "."))
                )
                paths += found
            elif os.path.isfile(match):
                paths.append(match)
            else:
                raise SystemExit(f"bigru-ner tag: no such input: {match}")
    return [(p, format_of(p) if forced == "auto" else forced) for p in paths]  # type: ignore[misc]


def _output_format(args: argparse.Namespace) -> OutputFormat:
    if args.format:
        return args.format  # type: ignore[no-any-return]
    suffix = Path(args.output).suffix if args.output else ""
    return FILE_SUFFIXES.get(suffix, "jsonl")


def _shard_bytes(args: argparse.Namespace, inputs: list[tuple[str, Format]], workers: int) -> int:
    if args.shard_mb is not None:
        return max(1, int(args.shard_mb * 2**20))
    # A few shards a worker, so that none waits long for the last; not so many that
    # markers and files outnumber the data.
    total = sum(os.stat(path).st_size for path, _ in inputs)
    return min(64 * 2**20, max(256 * 2**10, total // (workers * 4)))


def _run_local(args: argparse.Namespace, inputs: list[tuple[str, Format]], job: Job) -> int:
    from model.corpus.local import run
    from model.corpus.progress import Progress

    workers = args.workers or len(os.sched_getaffinity(0))
    fmt = _output_format(args)
    single = args.output is None or Path(args.output).suffix in FILE_SUFFIXES
    with tempfile.TemporaryDirectory(prefix="bigru-ner-tag-") as scratch:
        if args.output is None:
            root = Path(scratch)
        else:
            root = Path(args.output + ".parts") if single else Path(args.output)
        out = OutputDir(root, fmt)
        try:
            shards = out.shards(inputs, _shard_bytes(args, inputs, workers))
        except ValueError as error:
            raise SystemExit(f"bigru-ner tag: {error}") from None
        todo = [s for s in shards if out.done(s) is None]
        with Progress(sum(s.count for s in todo), len(shards) - len(todo)) as progress:
            try:
                run(job, todo, out, workers, progress.update)
            except KeyboardInterrupt:
                if single and args.output is None:
                    raise
                print(f"interrupted: the same command resumes into {root}", file=sys.stderr)
                return 130
        counts = [out.done(s) or {} for s in shards]
        where = _finish(args, out, shards, root) if single else str(root / "_rejects")
    print(progress.summary(counts, where), file=sys.stderr)
    return 0


def _finish(args: argparse.Namespace, out: OutputDir, shards: Sequence[Shard], root: Path) -> str:
    """Merge the shards into the output file (or standard output); where the rejects went."""
    rejects_path = args.rejects
    if rejects_path is None and args.output is not None:
        rejects_path = str(Path(args.output).with_suffix("")) + ".rejects.jsonl"
    with contextlib.ExitStack() as stack:
        rejects = stack.enter_context(open(rejects_path, "wb")) if rejects_path else None
        if args.output is None:
            out.merge(shards, sys.stdout.buffer, rejects)
            sys.stdout.buffer.flush()
        else:
            written = Path(args.output).with_name(f".{Path(args.output).name}.tmp")
            with written.open("wb") as stream:
                out.merge(shards, stream, rejects)
            os.replace(written, args.output)
            shutil.rmtree(root)
    if rejects_path and os.path.getsize(rejects_path) == 0:
        os.unlink(rejects_path)
    return rejects_path or "not kept: give --rejects FILE"
