"""``--engine ray`` on a real two-node Ray cluster on this machine, one actor killed mid-run."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model.cli import main
from tests.corpus.conftest import entities_by_id, read_jsonl, read_parts, write_jsonl

pytest.importorskip("ray", reason="the ray extra: pip install 'bigru-ner[ray]'")

RAY = str(Path(sys.executable).with_name("ray"))
#: No token authentication: whether Ray turns it on depends on a token in the home directory.
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}
#: The process title of a Ray Data actor of TagBatch while it tags a batch.
BUSY_ACTOR = b"ray::MapWorker(MapBatches(TagBatch)).submit"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _node(*args: str, temp: Path) -> list[str]:
    """``ray start`` of a node on this machine with one CPU and ports of its own."""
    return [
        RAY, "start", *args, "--num-cpus", "1", "--object-store-memory", str(100 * 2**20),
        "--temp-dir", str(temp),
        "--dashboard-agent-listen-port", str(_free_port()),
        "--runtime-env-agent-port", str(_free_port()), "--disable-usage-stats",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A head and a second node, started with ``ray start``; the address to join them."""
    # Short: Ray's socket paths under it must fit in 107 characters.
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    port = _free_port()
    head = ["--head", "--port", str(port), "--include-dashboard", "false"]
    try:
        _start(_node(*head, temp=temp))
        _start(_node("--address", f"127.0.0.1:{port}", temp=temp))
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120, env=ENV)
        shutil.rmtree(temp, ignore_errors=True)


def _start(command: list[str]) -> None:
    started = subprocess.run(command, capture_output=True, text=True, timeout=120, env=ENV)
    assert started.returncode == 0, started.stdout + started.stderr


def _busy_actors() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(BUSY_ACTOR):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_a_job_on_a_two_node_cluster_survives_a_killed_actor(
    cluster: str, tiny_model: Path, texts: list[str], tmp_path: Path
) -> None:
    records = [{"id": i, "text": t, "batch": "b1"} for i, t in enumerate(texts * 10)]
    source = write_jsonl(tmp_path / "in.jsonl", records)
    with source.open("a") as lines:
        lines.write("{not json\n")
    out = tmp_path / "out"
    args = ["tag", "--model", str(tiny_model), "--input", str(source), "--batch-size", "16"]
    job = subprocess.Popen(
        [sys.executable, "-m", "model.cli", *args, "--engine", "ray", "--output", str(out)],
        env={**ENV, "RAY_ADDRESS": cluster},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and job.poll() is None and time.monotonic() < deadline:
        busy = _busy_actors()
        if busy:
            killed = busy[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.01)
    log = job.communicate(timeout=180)[0].decode(errors="replace")
    assert killed is not None, f"no actor was seen tagging a batch:\n{log}"
    assert job.returncode == 0, log
    assert (out / "_SUCCESS").exists()

    rows = read_parts(out)
    assert sorted(r["id"] for r in rows) == list(range(len(records)))
    assert all(r["batch"] == "b1" for r in rows)
    (reject,) = [r for part in out.glob("_rejects/*.jsonl") for r in read_jsonl(part)]
    assert reject["source"] == f"in.jsonl:{len(records) + 1}"
    local = tmp_path / "local"
    assert main([*args, "--workers", "1", "--output", str(local)]) == 0
    assert entities_by_id(rows) == entities_by_id(read_parts(local))


def test_parquet_in_and_out_keeps_the_fields_types(
    cluster: str, tiny_model: Path, texts: list[str], tmp_path: Path
) -> None:
    stamps = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i) for i in range(60)]
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"body": texts[:60], "key": list(range(60)), "at": stamps}), source)
    out = tmp_path / "out"
    args = ["tag", "--model", str(tiny_model), "--input", str(source), "--text-field", "body"]
    args += ["--id-field", "key", "--format", "parquet"]
    job = subprocess.run(
        [sys.executable, "-m", "model.cli", *args, "--engine", "ray", "--output", str(out)],
        env={**ENV, "RAY_ADDRESS": cluster},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert job.returncode == 0, job.stdout + job.stderr
    table = pa.concat_tables(pq.read_table(part) for part in sorted(out.glob("part-*.parquet")))
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    rows = sorted(table.to_pylist(), key=lambda row: row["id"])
    expected = list(zip(range(60), texts[:60], stamps, strict=True))
    assert [(r["id"], r["body"], r["at"]) for r in rows] == expected
    local = tmp_path / "local.parquet"
    assert main([*args, "--output", str(local), "--workers", "1"]) == 0
    assert entities_by_id(rows) == entities_by_id(pq.read_table(local).to_pylist())
