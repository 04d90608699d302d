"""Helpers of the deployment tests: the repository's files, tools, processes on loopback."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
PROMETHEUS_CONFIG = MONITORING / "prometheus" / "prometheus.yml"
ALERT_RULES = MONITORING / "prometheus" / "alerts.yml"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "bigru-ner.json"
HAPROXY_CONFIG = MONITORING / "haproxy" / "haproxy.cfg"


def tool(name: str) -> str:
    """Path of an external program: next to this interpreter (a venv's scripts), else on PATH.

    Fails rather than skips when it is missing: CI installs each one (``make system-deps`` and
    the dev extra), so a missing tool is a broken set-up, not a reason to test less.
    """
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make system-deps install-dev`")
    return found


def run_tool(
    args: Sequence[str], stdin: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion, capturing its output; ``env`` adds to this environment."""
    environment = None if env is None else os.environ | dict(env)
    return subprocess.run(
        list(args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )


def load_yaml(path: Path) -> Any:
    """A YAML file of the repository, parsed."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_dashboard() -> dict[str, Any]:
    """The Grafana dashboard JSON."""
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return dashboard


def free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(
    check: Callable[[], bool],
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.25,
) -> None:
    """Poll ``check`` until it is true; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {described}")
        time.sleep(interval)


def answers(url: str, status: int = 200) -> bool:
    """Whether GET ``url`` answers with ``status`` (connection errors count as no)."""
    try:
        return httpx.get(url, timeout=2).status_code == status
    except httpx.TransportError:
        return False


@contextmanager
def running(
    argv: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path = ROOT
) -> Iterator[subprocess.Popen[bytes]]:
    """A background process writing to ``log``, killed on exit; its log is shown if it died."""
    with log.open("wb") as out:
        process = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=out, stderr=out)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def serving(
    argv: Sequence[str],
    env: Mapping[str, str],
    log: Path,
    ready_url: str,
    timeout: float,
    what: str,
    cwd: Path = ROOT,
) -> Iterator[subprocess.Popen[bytes]]:
    """:func:`running`, once ``ready_url`` answers 200; fails with the log if it died first."""
    with running(argv, env, log, cwd) as process:
        wait_for(
            lambda: process.poll() is not None or answers(ready_url), timeout=timeout, what=what
        )
        assert process.poll() is None, exited_early(process, log)
        yield process


@contextmanager
def bigru_ner_serve(env: Mapping[str, str], log: Path) -> Iterator[str]:
    """``python -m service.cli serve`` (the bundled models unless ``env`` names others) on a free
    loopback port, with ``env`` as its only ``NER_*`` settings; its URL once ``/readyz`` is 200."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NER_")} | dict(env)
    serve = [sys.executable, "-m", "service.cli", "serve"]
    argv = [*serve, "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with serving(
        argv, environment, log, url + "/readyz", timeout=180, what="the service's /readyz"
    ):
        yield url


def exited_early(process: subprocess.Popen[bytes], log: Path) -> str:
    """A failure message with the log of a process that ended before it should have."""
    return f"{process.args!r} exited with {process.returncode}:\n{log.read_text()[-4000:]}"


@dataclass
class Dockerfile:
    """What the tests need from a Dockerfile: its stages, and the last stage's instructions."""

    stages: list[str] = field(default_factory=list)
    """The ``FROM`` line of each stage."""
    instructions: list[tuple[str, str]] = field(default_factory=list)
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""

    def all(self, name: str) -> list[str]:
        """The arguments of every ``name`` instruction of the final stage."""
        return [args for instruction, args in self.instructions if instruction == name]

    def exec_form(self, name: str) -> list[str]:
        """The JSON (exec form) array of the final stage's last ``name``; fails if shell form."""
        args = self.all(name)[-1]
        value = json.loads(args)
        assert isinstance(value, list), f"{name} is not in exec form: {args}"
        return [str(part) for part in value]

    def env(self) -> dict[str, str]:
        """Environment that ``ENV`` sets in the final stage (``KEY=value`` pairs only)."""
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, sep, value = pair.partition("=")
                assert sep, f"ENV {args!r}: use KEY=value"
                values[key] = value
        return values

    def healthcheck(self) -> list[str]:
        """The exec-form command of the final stage's ``HEALTHCHECK``."""
        args = self.all("HEALTHCHECK")[-1]
        options, sep, command = args.partition("CMD ")
        assert sep, f"HEALTHCHECK without CMD: {args}"
        value = json.loads(command)
        assert isinstance(value, list), f"HEALTHCHECK is not in exec form: {args}"
        return [str(part) for part in value]


def read_dockerfile(path: Path = ROOT / "Dockerfile") -> Dockerfile:
    """Parse the instructions of a Dockerfile (comments dropped, continuations joined)."""
    parsed = Dockerfile()
    logical = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        instruction, _, args = logical.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            parsed.stages.append(args)
            parsed.instructions = []
        parsed.instructions.append((instruction, args.strip()))
        logical = ""
    return parsed
