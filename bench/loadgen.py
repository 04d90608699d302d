"""What the HTTP benchmarks share: request bodies from CoNLL-2003, servers started on loopback,
``wrk`` as the load generator, and the machine's description.

wrk is a separate C process, so that the load generator does not compete with the server for
the GIL; ``tag_requests.lua`` posts one JSON body per request from a file of bodies, and
prints its counts and latency percentiles as one JSON line.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("tag_requests.lua")
_NO_SPACE_BEFORE = {",", ".", ")", ":", ";", "?", "!", "%", "'s", "n't", "'re", "'ll", "'ve"}


def detokenize(tokens: Sequence[str]) -> str:
    """Natural text from CoNLL tokens: no space before closing punctuation or clitics."""
    out: list[str] = []
    quote_open = glue_next = False
    for token in tokens:
        glue = glue_next or token.lower() in _NO_SPACE_BEFORE
        glue_next = token in {"(", "$"}
        if token == '"':
            glue, glue_next = (True, False) if quote_open else (glue, True)
            quote_open = not quote_open
        if out and not glue:
            out.append(" ")
        out.append(token)
    return "".join(out)


def write_bodies(path: Path, sentences: Sequence[Sequence[str]], per_request: int = 1) -> Path:
    """One request body a line, after its word count and a tab: ``{"text": ...}`` of one
    detokenised sentence, or ``{"texts": [...]}`` of ``per_request`` of them."""
    with path.open("w", encoding="utf-8") as out:
        for first in range(0, len(sentences) - per_request + 1, per_request):
            group = sentences[first : first + per_request]
            texts = [detokenize(s) for s in group]
            body = {"text": texts[0]} if per_request == 1 else {"texts": texts}
            out.write(f"{sum(len(s) for s in group)}\t{json.dumps(body)}\n")
    return path


def free_port() -> int:
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


def pinned(command: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *command] if cpus else command


@contextmanager
def serving(
    command: list[str], ready_url: str, env: dict[str, str] | None = None, timeout: float = 180
) -> Iterator[int]:
    """Run ``command`` until the block ends, once ``ready_url`` answers 200; yields its pid."""
    with tempfile.TemporaryFile("w+") as log:
        # A session of its own: servers with worker processes (LitServe) end as a group.
        server = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while not _answers(ready_url):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"{command}: server did not become ready:\n{log.read()}")
                time.sleep(0.2)
            yield server.pid
        finally:
            _end_group(server)


def _end_group(server: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGTERM the server's process group, SIGKILL what is left after 30 s."""
    group = server.pid  # its own session: the group id is its pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def _answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False


@dataclass
class WrkReport:
    """What ``tag_requests.lua`` prints when wrk is done (times in microseconds)."""

    requests: int
    duration_us: int
    bytes: int
    #: Requests sent (answered or not) and the words in them.
    sent: int
    words: int
    errors: dict[str, int]
    latency_us: dict[str, float]

    @property
    def seconds(self) -> float:
        return self.duration_us / 1e6

    @property
    def words_per_s(self) -> float:
        """Words of the answered requests per second (each counted as a mean sent one)."""
        return self.words * self.requests / max(self.sent, 1) / self.seconds

    def ms(self, percentile: str, digits: int = 1) -> float:
        return round(self.latency_us[percentile] / 1000, digits)


def wrk(
    url: str,
    bodies: Path,
    connections: int,
    seconds: float,
    threads: int = 1,
    cpus: str | None = None,
    path: str = "/v1/tag",
) -> WrkReport:
    """One wrk run posting the bodies (one a line) to ``url`` + ``path``."""
    command = pinned(
        [
            "wrk",
            f"--threads={min(threads, connections)}",
            f"--connections={connections}",
            f"--duration={max(1, round(seconds))}s",
            "--timeout=30s",
            f"--script={SCRIPT}",
            url,
            "--",
            str(bodies),
            path,
        ],
        cpus,
    )
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return WrkReport(**json.loads(line.removeprefix("RESULT ")))
    raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")


@dataclass
class Load:
    """How a server is driven: wrk connections, seconds, and where each side runs."""

    connections: int = 64
    duration: float = 30.0
    warmup: float = 5.0
    wrk_threads: int = 1
    server_cpus: str | None = None
    client_cpus: str | None = None

    def drive(self, url: str, bodies: Path, seconds: float, path: str = "/v1/tag") -> WrkReport:
        """One wrk run of ``seconds`` against ``url``."""
        return wrk(
            url,
            bodies,
            self.connections,
            seconds,
            self.wrk_threads,
            self.client_cpus,
            path,
        )


def wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return done.stdout.split("\n")[0]


def metric(text: str, name: str, labels: str = "") -> float:
    """One sample of a Prometheus text exposition (0 when absent)."""
    match = re.search(rf"^{name}{re.escape(labels)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def labelled_sum(text: str, name: str) -> float:
    """A metric summed over its label sets."""
    pattern = rf"^{name}\{{[^}}]*\}} ([0-9.e+-]+)$"
    return sum(float(v) for v in re.findall(pattern, text, re.MULTILINE))


def machine() -> str:
    """CPU model and count, e.g. ``Intel(R) Xeon(R) Processor, 2 CPUs (x86_64, Linux 6.1)``."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    system = f"{platform.machine()}, {platform.system()} {platform.release()}"
    return f"{model}, {os.cpu_count()} CPUs ({system})"
