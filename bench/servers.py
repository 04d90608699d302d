"""The servers the HTTP benchmarks start: the service (from this checkout or from another
source tree, with its settings as ``NER_*`` variables) and its peers (bench/peer_servers.py),
each on a free loopback port until the benchmark is done with it.

A server from another tree runs with that tree as its working directory and ``PYTHONPATH``,
so that its own ``service`` and ``model`` packages are imported, not the ones this
checkout's editable install points at; :func:`imported_from` checks which were before it
starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

#: How to start bench/peer_servers.py (from the repository root, as the benchmarks run).
PEER_SERVERS = (sys.executable, "-m", "bench.peer_servers")
_WHERE = (
    "import importlib.util as u; print(u.find_spec('service').origin, u.find_spec('model').origin)"
)


@dataclass(frozen=True)
class Server:
    """How to start one server on a port, and where it says it is ready."""

    name: str
    #: The command, with ``{port}`` where its port goes.
    command: tuple[str, ...]
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    #: Another source tree of the service to run (None: this checkout).
    tree: Path | None = None
    #: The service: Prometheus metrics (batch sizes) at /metrics.
    ours: bool = False

    def argv(self, port: int) -> list[str]:
        """The command for ``port``."""
        return [part.replace("{port}", str(port)) for part in self.command]

    def environment(self) -> dict[str, str]:
        """The environment it runs in: this one, its settings, and its tree first on the path."""
        tree = {"PYTHONPATH": str(self.tree)} if self.tree else {}
        return {**os.environ, **self.env, **tree}


def service(
    name: str, env: dict[str, str] | None = None, tree: Path | None = None, device: str = ""
) -> Server:
    """``bigru-ner serve`` with ``env`` (``NER_*`` settings), from ``tree`` or this checkout."""
    command = [sys.executable, "-m", "service.cli", "serve", "--port", "{port}"]
    if device:
        command += ["--device", device]
    return Server(name, tuple(command), "/readyz", env or {}, tree, ours=True)


def litserve(max_batch_size: int, batch_timeout: float) -> Server:
    """LitServe hosting the same tagger, batching requests as told."""
    command = (
        *PEER_SERVERS,
        "litserve",
        "--port",
        "{port}",
        "--max-batch-size",
        str(max_batch_size),
        "--batch-timeout",
        str(batch_timeout),
    )
    name = f"litserve (batch {max_batch_size}, {batch_timeout * 1000:g} ms)"
    return Server(name, command, "/health")


def plain_fastapi() -> Server:
    """A plain FastAPI endpoint tagging each request in its thread pool."""
    return Server("plain fastapi", (*PEER_SERVERS, "fastapi", "--port", "{port}"), "/health")


def parse_server(spec: str) -> Server:
    """``fastapi`` (the plain FastAPI peer), or ``NAME[@TREE][:NER_X=V,NER_Y=W]``: the service
    named NAME, run from the source tree TREE (default: this checkout) with those settings."""
    if spec == "fastapi":
        return plain_fastapi()
    head, _, settings = spec.partition(":")
    name, _, tree = head.partition("@")
    if not name:
        raise ValueError(f"{spec!r}: no name before '@' or ':'")
    env = {}
    for item in filter(None, settings.split(",")):
        key, equals, value = item.partition("=")
        if not key.startswith("NER_") or not equals:
            raise ValueError(f"{spec!r}: {item!r} is not NER_X=VALUE")
        env[key] = value
    return service(name, env, Path(tree).resolve() if tree else None)


def imported_from(server: Server) -> tuple[Path, Path]:
    """Where ``server``'s Python finds the ``service`` and ``model`` packages; for a server
    of another tree, an error unless both are that tree's."""
    done = subprocess.run(
        [sys.executable, "-c", _WHERE],
        capture_output=True,
        text=True,
        check=True,
        cwd=server.tree,
        env=server.environment(),
    )
    found = tuple(Path(origin).parent for origin in done.stdout.split())
    service_dir, model_dir = found
    if server.tree and not all(p.resolve().is_relative_to(server.tree) for p in found):
        raise RuntimeError(
            f"{server.name}: imports service from {service_dir} and model from {model_dir},"
            f" not from {server.tree}"
        )
    return service_dir, model_dir


@dataclass(frozen=True)
class Running:
    """A started server: its base URL and process id."""

    url: str
    pid: int


@contextmanager
def serving(server: Server, timeout: float = 180) -> Iterator[Running]:
    """Run ``server`` on a free port until the block ends, once its ready path answers 200."""
    if server.ours:  # which code it runs, said before it starts (checked for another tree)
        service_dir, model_dir = imported_from(server)
        print(f"{server.name}: service from {service_dir}, model from {model_dir}", flush=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        # A session of its own: servers with worker processes (LitServe) end as a group.
        process = subprocess.Popen(
            server.argv(port),
            cwd=server.tree,
            env=server.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while not _answers(url + server.ready_path):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"{server.name} did not become ready:\n{log.read()}")
                time.sleep(0.2)
            yield Running(url, process.pid)
        finally:
            _end_group(process)


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL what is left after 30 s."""
    group = process.pid  # its own session: the group id is its pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    """Status and body of a GET (errors as their status and an empty body)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def _answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False
