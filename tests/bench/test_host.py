"""What bench.host reads of a process tree: its memory counts the children's, and each page
that processes share counts once over them."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.host import descendants, pss_mib, rss_mib

#: A child that takes 64 MiB of its own, then waits.
_HOLDS = (
    "import sys; block = bytearray(64 << 20); block[::4096] = b'x' * (64 << 8); sys.stdin.read()"
)


def test_a_childs_own_memory_counts_once_and_shared_pages_are_split() -> None:
    before = pss_mib(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", _HOLDS], stdin=subprocess.PIPE)
    try:
        for _ in range(100):
            if child.pid in descendants(os.getpid()) and pss_mib(child.pid) > 64:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        grown = pss_mib(os.getpid()) - before
        assert 64 <= grown < 64 + 40  # the block, and the child's share of the interpreter
        assert pss_mib(child.pid) < rss_mib(child.pid)  # its libraries are shared with us
    finally:
        child.communicate(b"")
