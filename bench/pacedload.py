"""Shared by the overload and soak scripts: start ``bigru-ner serve``, drive it at a fixed
request rate (open loop: requests go out on schedule whether or not earlier ones were
answered, as real clients do), and read its resident memory.

Each request is one text of several made-up sentences, so that a few hundred requests a
second are several times what the model can tag: a Python client can keep that pace without
taking the CPU the server needs (wrk cannot tell 503 latencies from 200 ones, and keeps
no schedule).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.loadgen import free_port, serving

T = TypeVar("T")

_NAMES = ["Mary Rossi", "Kofi Berg", "Acme Corp", "Olga Lund", "Initech", "Lima", "Oslo"]
_VERBS = ["visited", "met", "hired", "left", "called", "praised", "sued"]


def text(sentences: int, rng: random.Random) -> str:
    """A made-up text of ``sentences`` sentences of 12-14 tokens."""
    out = []
    for _ in range(sentences):
        a, b = rng.sample(_NAMES, 2)
        out.append(
            f"{a} {rng.choice(_VERBS)} {b} in the spring of {rng.randint(1990, 2020)} "
            f"after a long and quiet week ."
        )
    return " ".join(out)


@dataclass
class Call:
    """One request: when it was sent (seconds into the run), how long it took, its status
    (0: transport error) and whether a 429/503 carried Retry-After."""

    sent: float
    seconds: float
    status: int
    retry_after: bool = False


@contextmanager
def server(env: dict[str, str], device: str = "cpu") -> Iterator[tuple[str, int]]:
    """``bigru-ner serve`` (the bundled model, on ``device``) on a free port; yields its URL
    and pid."""
    port = free_port()
    argv = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--device", device]
    url = f"http://127.0.0.1:{port}"
    with serving(argv, f"{url}/readyz", env) as pid:
        yield url, pid


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (the model process), in MiB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pending += [int(child) for child in children]
    return total / 1024


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is there (the server has it too): less client CPU per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def _request(url: str, body: str) -> bytes:
    """A keep-alive ``POST /v1/tag`` with ``body``, as bytes on the wire."""
    host = url.removeprefix("http://")
    data = body.encode()
    head = (
        f"POST /v1/tag HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


class _Connection:
    """One keep-alive HTTP/1.1 connection, reopened after an error; a few dozen lines of
    asyncio streams cost the client far less CPU per request than a general HTTP client."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def call(self, request: bytes) -> tuple[int, bool]:
        """Status and whether Retry-After came with it; status 0 for a transport error."""
        try:
            if self._streams is None:
                self._streams = await asyncio.open_connection(self.host, self.port)
            reader, writer = self._streams
            writer.write(request)
            status = int((await reader.readline()).split()[1])
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            await reader.readexactly(int(headers.get("content-length", "0")))
            if headers.get("connection") == "close":
                self.close()
            return status, "retry-after" in headers
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            self.close()
            return 0, False

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def closed_loop(url: str, bodies: list[str], clients: int, seconds: float) -> list[Call]:
    """``clients`` connections, each sending its next request when the last one is answered."""
    requests = [_request(url, body) for body in bodies]
    calls: list[Call] = []
    start = time.perf_counter()

    async def one_client(k: int) -> None:
        connection = _Connection(url)
        i = k
        while (sent := time.perf_counter()) - start < seconds:
            status, retry = await connection.call(requests[i % len(requests)])
            calls.append(Call(sent - start, time.perf_counter() - sent, status, retry))
            i += clients
        connection.close()

    await asyncio.gather(*(one_client(k) for k in range(clients)))
    return calls


async def open_loop(
    url: str, bodies: list[str], rate: float, seconds: float, connections: int = 256
) -> tuple[list[Call], int]:
    """Requests scheduled at ``rate`` a second for ``seconds``, over ``connections``
    connections. Latency counts from the scheduled time, so waiting for a free connection
    counts too. Returns the calls and how many were skipped because more than ``rate`` x 5 s
    of requests were already waiting for a connection."""
    requests = [_request(url, body) for body in bodies]
    jobs: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    calls: list[Call] = []
    start = time.perf_counter()

    async def worker() -> None:
        connection = _Connection(url)
        while (job := await jobs.get()) is not None:
            scheduled, request = job
            status, retry = await connection.call(request)
            calls.append(Call(scheduled - start, time.perf_counter() - scheduled, status, retry))
        connection.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    skipped = 0
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        if (delay := scheduled - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        if jobs.qsize() > rate * 5:
            skipped += 1
            continue
        jobs.put_nowait((scheduled, requests[i % len(requests)]))
    for _ in workers:
        jobs.put_nowait(None)
    await asyncio.gather(*workers)
    return calls, skipped


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (1-99) in milliseconds, rounded to 0.1; None without values."""
    if not values:
        return None
    if len(values) == 1:
        return round(values[0] * 1000, 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000, 1)
