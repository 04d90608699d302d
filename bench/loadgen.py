"""The one load driver of the HTTP benchmarks: request bodies in a file, sent by wrk.

wrk is a separate C process, so that the load generator does not compete with the server for
the GIL and takes little of the CPU it shares with it; ``tag_requests.lua`` posts one JSON body
per request from a file of bodies, and prints its counts and latency percentiles as one JSON
line. A :class:`Load` either keeps its connections busy (closed loop: each sends its next
request when the last is answered) or, with a ``rate``, sends on a fixed schedule whatever
the answers say (as wrk2 does), counting the answers by status.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = Path(__file__).with_name("tag_requests.lua")
_NO_SPACE_BEFORE = {",", ".", ")", ":", ";", "?", "!", "%", "'s", "n't", "'re", "'ll", "'ve"}
_NAMES = ["Mary Rossi", "Kofi Berg", "Acme Corp", "Olga Lund", "Initech", "Lima", "Oslo"]
_VERBS = ["visited", "met", "hired", "left", "called", "praised", "sued"]


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


def made_up_sentences(count: int, seed: int = 0) -> list[list[str]]:
    """``count`` made-up sentences of 15 to 18 tokens, with names to find (the overload and
    soak runs need no CoNLL-2003)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        a, b = rng.sample(_NAMES, 2)
        text = f"{a} {rng.choice(_VERBS)} {b} in the spring of {rng.randint(1990, 2020)}"
        out.append([*text.split(), "after", "a", "long", "and", "quiet", "week", "."])
    return out


@dataclass
class WrkReport:
    """What ``tag_requests.lua`` prints when wrk is done (times in microseconds)."""

    requests: int
    duration_us: int
    bytes: int
    #: Requests sent (answered or not) and the words in them.
    sent: int
    words: int
    #: wrk's counts by kind: connect, read, write, status (not 2xx/3xx), timeout.
    errors: dict[str, int]
    latency_us: dict[str, float]
    #: Paced runs only: answers by status ("200", "429", "503", "other").
    statuses: dict[str, int] = field(default_factory=dict)
    refused_without_retry_after: int = 0
    #: Paced runs only: slots skipped for being more than a second late.
    skipped: int = 0

    @property
    def seconds(self) -> float:
        """How long the run took."""
        return self.duration_us / 1e6

    @property
    def requests_per_s(self) -> float:
        """Requests answered (with any status) per second."""
        return self.requests / self.seconds

    @property
    def words_per_s(self) -> float:
        """Words of the answered requests per second (each counted as a mean sent one)."""
        return self.words * self.requests / max(self.sent, 1) / self.seconds

    @property
    def failed(self) -> int:
        """Requests that got no answer or not a 2xx."""
        return sum(self.errors.values())

    def ms(self, percentile: str, digits: int = 1) -> float:
        """A latency percentile of wrk's (``p50``, ``p95``, ``p99``, ``max``) in ms."""
        return round(self.latency_us[percentile] / 1000, digits)


@dataclass(frozen=True)
class Load:
    """How a server is driven: wrk's connections and threads, warm-up and measured seconds,
    and, for a paced load, the requests a second (None: closed loop)."""

    connections: int = 64
    duration: float = 30.0
    warmup: float = 5.0
    threads: int = 1
    rate: float | None = None

    def drive(self, url: str, bodies: Path, seconds: float, path: str = "/v1/tag") -> WrkReport:
        """One wrk run of ``seconds`` (whole seconds, at least one) against ``url``."""
        threads = min(self.threads, self.connections)
        env = dict(os.environ)
        if self.rate is not None:
            env["TAG_RATE"] = str(self.rate / threads)
        command = [
            "wrk",
            f"--threads={threads}",
            f"--connections={self.connections}",
            f"--duration={max(1, round(seconds))}s",
            "--timeout=30s",
            f"--script={SCRIPT}",
            url,
            "--",
            str(bodies),
            path,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        for line in done.stdout.splitlines():
            if line.startswith("RESULT "):
                return WrkReport(**json.loads(line.removeprefix("RESULT ")))
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")

    def measure(self, url: str, bodies: Path) -> WrkReport:
        """An unmeasured warm-up of :attr:`warmup` seconds (if any), then the measured run."""
        if self.warmup > 0:
            self.drive(url, bodies, self.warmup)
        return self.drive(url, bodies, self.duration)


def wrk_version() -> str:
    """wrk's version line, for the reports."""
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return done.stdout.split("\n")[0]
