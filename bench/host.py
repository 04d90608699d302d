"""The machine the benchmarks run on, and what its processes use, read from ``/proc``."""

from __future__ import annotations

import os
import platform
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


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


def descendants(pid: int) -> list[int]:
    """The pids of a process's children, theirs, and so on (a server's model processes)."""
    out: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
            found = [int(c) for t in tasks for c in (t / "children").read_text().split()]
        except OSError:  # gone meanwhile
            continue
        out += found
        pending += found
    return out


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process so far (its threads included; 0 if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds so far of a process and its descendants."""
    return sum(cpu_seconds(p) for p in [pid, *descendants(pid)])


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants, in MiB."""
    return _tree_mib(pid, "status", "VmRSS:")


def pss_mib(pid: int) -> float:
    """Proportional memory of a process and its descendants, in MiB: each shared page (torch's
    libraries in every model process) counted once over the processes that share it, so the
    sum is what they take together."""
    return _tree_mib(pid, "smaps_rollup", "Pss:")


def _tree_mib(pid: int, proc_file: str, field: str) -> float:
    """The sum of ``field`` (in kB) of ``/proc/PID/<proc_file>`` over the tree, in MiB."""
    total = 0
    for current in [pid, *descendants(pid)]:
        try:
            lines = Path(f"/proc/{current}/{proc_file}").read_text().splitlines()
        except OSError:  # gone meanwhile
            continue
        total += sum(int(line.split()[1]) for line in lines if line.startswith(field))
    return total / 1024
