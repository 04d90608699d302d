"""Progress of a corpus run: a bar on a terminal (records, words/s, ETA), a summary line always."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm


class Progress:
    """Counts what the workers report; draws a bar over the input lines when on a terminal."""

    def __init__(self, lines: int, shards_done: int = 0) -> None:
        self.lines, self.shards_done = lines, shards_done
        self.records = self.words = 0
        self.started = time.monotonic()
        # disable=None: no bar when standard error is not a terminal (a log, CI).
        self.bar = tqdm(total=lines, unit=" lines", unit_scale=True, disable=None, smoothing=0.1)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def update(self, lines: int, records: int, words: int) -> None:
        """Add what a worker tagged since its last report."""
        self.records += records
        self.words += words
        self.bar.update(lines)
        elapsed = time.monotonic() - self.started
        self.bar.set_postfix_str(f"{self.words / max(elapsed, 1e-9):,.0f} words/s", refresh=False)

    def summary(self, counts: Sequence[dict[str, Any]], rejects_at: str) -> str:
        """One line: what the whole output holds, this run's speed, the rejects and where."""
        elapsed = time.monotonic() - self.started
        records = sum(c["records"] for c in counts)
        rejects = sum(c["rejects"] for c in counts)
        line = (
            f"bigru-ner tag: {records} records tagged, {rejects} rejected; this run "
            f"{self.records} records, {self.words} words in {elapsed:.1f} s "
            f"({self.words / max(elapsed, 1e-9):,.0f} words/s)"
        )
        if self.shards_done:
            line += f"; {self.shards_done} of {len(counts)} shards were done before"
        if rejects:
            line += f"; rejects: {rejects_at}"
        return line
