"""A run killed half-way, then run again: every record written once, none missed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from model.cli import main
from tests.corpus.conftest import entities_by_id, read_parts, write_jsonl


def test_a_rerun_after_a_kill_does_only_what_is_missing(
    tiny_model: Path, texts: list[str], tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in texts * 4])
    out = tmp_path / "out"
    common = ["tag", "--model", str(tiny_model), "--input", str(source), "--workers", "1"]
    common += ["--shard-mb", "0.004", "--batch-size", "8"]
    args = [*common, "--output", str(out)]
    run = subprocess.Popen([sys.executable, "-m", "model.cli", *args], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list(out.glob("_done/*.json"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    shards = len((out / "_plan.json").read_text().split('"index"')) - 1
    done_before = len(list(out.glob("_done/*.json")))
    assert 3 <= done_before < shards, "the run was not killed half-way"

    assert main(args) == 0
    rows = read_parts(out)
    assert [r["id"] for r in rows] == [f"in.jsonl:{n}" for n in range(1, len(texts) * 4 + 1)]
    clean = tmp_path / "clean"
    assert main([*common, "--output", str(clean)]) == 0
    assert entities_by_id(rows) == entities_by_id(read_parts(clean))
    assert not list(out.glob(".*.tmp")), "a temporary file was left behind"


def test_a_shard_written_but_not_marked_is_done_again_not_added_to(
    tiny_model: Path, texts: list[str], tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in texts])
    out = tmp_path / "out"
    args = ["tag", "--model", str(tiny_model), "--input", str(source), "--output", str(out)]
    args += ["--shard-mb", "0.01", "--workers", "1"]
    assert main(args) == 0
    before = read_parts(out)
    # Killed after a shard's rename, before its marker; and another's temporary file left.
    (out / "_done" / "part-00001.json").unlink()
    (out / ".part-00002.jsonl.tmp").write_text('{"id": "half a shard"}\n')
    (out / "_done" / "part-00002.json").unlink()
    assert main(args) == 0
    assert read_parts(out) == before
