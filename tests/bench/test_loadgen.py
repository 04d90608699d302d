"""The load driver: request bodies, and wrk paced at a rate, counting answers by status
(against a stub server that refuses every other request)."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.loadgen import Load, detokenize, made_up_sentences, write_bodies


def test_bodies_carry_their_word_counts(tmp_path: Path) -> None:
    sentences = [["Rossi", "met", "Berg", "."], ["He", "left", "(", "at", "noon", ")", "."]]
    lines = write_bodies(tmp_path / "one", sentences).read_text().splitlines()
    assert lines[0] == '4\t{"text": "Rossi met Berg."}'
    assert detokenize(sentences[1]) == "He left (at noon)."
    [both] = write_bodies(tmp_path / "two", sentences, 2).read_text().splitlines()
    count, body = both.split("\t")
    assert (count, len(json.loads(body)["texts"])) == ("11", 2)


def test_made_up_sentences_are_fixed_by_their_seed() -> None:
    assert made_up_sentences(3) == made_up_sentences(3) != made_up_sentences(3, seed=1)
    assert {len(s) for s in made_up_sentences(50)} <= set(range(15, 19))


class _EveryOther(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    calls = 0
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            type(self).calls += 1
            refuse = self.calls % 2 == 0
        self.send_response(503 if refuse else 200)
        if refuse:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EveryOther)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk")
def test_a_paced_load_keeps_its_rate_and_counts_statuses(stub: str, tmp_path: Path) -> None:
    bodies = write_bodies(tmp_path / "b", made_up_sentences(20))
    report = Load(connections=8, rate=60).drive(stub, bodies, 2)
    assert 90 <= report.requests <= 125  # 120 slots in 2 s; the first ones start the clock
    assert report.statuses["200"] + report.statuses["503"] == report.requests
    assert abs(report.statuses["200"] - report.statuses["503"]) <= 8
    assert (report.statuses["429"], report.statuses["other"]) == (0, 0)
    assert report.refused_without_retry_after == 0 and report.skipped == 0


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk")
def test_a_closed_loop_counts_no_statuses(stub: str, tmp_path: Path) -> None:
    bodies = write_bodies(tmp_path / "b", made_up_sentences(20))
    report = Load(connections=2).drive(stub, bodies, 1)
    assert report.requests > 0 and report.statuses == {}
    assert report.errors["status"] > 0  # wrk's own count of the 503s
