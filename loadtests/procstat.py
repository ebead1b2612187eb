"""What the benches and runs read from /proc: a process' CPU seconds and RSS,
its tree (a server and its workers), the machine's busy CPU. Linux only.

``parse_stat`` is pure (one line of /proc/<pid>/stat in, its fields out); the
rest reads /proc at the moment it is called and never raises for a process
that has gone in between (it is left out, or counts as 0).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/<pid>/stat the benches use (proc(5) numbering:
    comm 2, state 3, ppid 4, pgrp 5, utime 14, stime 15)."""

    pid: int
    comm: str
    state: str
    ppid: int
    pgrp: int
    utime_ticks: int
    stime_ticks: int

    @property
    def cpu_seconds(self) -> float:
        return (self.utime_ticks + self.stime_ticks) / CLK_TCK


def parse_stat(pid: int, raw: str) -> ProcStat:
    """One /proc/<pid>/stat line. The command name may hold spaces and
    parentheses: the fields after it start past the last ")"."""
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    return ProcStat(pid, comm, rest[0], int(rest[1]), int(rest[2]), int(rest[11]), int(rest[12]))


def stat(pid: int) -> ProcStat | None:
    """The process' stat, None once it has gone."""
    try:
        return parse_stat(pid, (PROC / str(pid) / "stat").read_text())
    except (OSError, ValueError, IndexError):
        return None


def all_stats() -> dict[int, ProcStat]:
    """Every process' stat, by pid."""
    out: dict[int, ProcStat] = {}
    for entry in os.listdir(PROC):
        if entry.isdigit() and (s := stat(int(entry))):
            out[s.pid] = s
    return out


def state(pid: int) -> str:
    """The state letter (R running, S sleeping, T stopped, Z zombie), "?" if gone."""
    s = stat(pid)
    return s.state if s else "?"


def alive(pid: int) -> bool:
    """True if ``pid`` runs; a zombie (exited, not yet reaped, as a daemonized
    postmaster is in a container without init) counts as gone."""
    return state(pid) not in ("?", "Z", "X")


def group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` runs (zombies waiting for init to
    reap them do not count)."""
    return any(s.pgrp == pgid and s.state not in ("Z", "X") for s in all_stats().values())


def tree(root: int, stats: dict[int, ProcStat] | None = None) -> list[int]:
    """``root`` and its descendants (a uvicorn supervisor, its workers, their
    children), ``root`` first; empty once ``root`` has gone."""
    stats = all_stats() if stats is None else stats
    if root not in stats:
        return []
    children: dict[int, list[int]] = {}
    for s in stats.values():
        children.setdefault(s.ppid, []).append(s.pid)
    out, todo = [], [root]
    for _ in range(100_000):  # bounded: pids never repeat in one snapshot
        if not todo:
            break
        pid = todo.pop(0)
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: Iterable[int], stats: dict[int, ProcStat] | None = None) -> float:
    """User + system CPU seconds of these processes (those gone count 0)."""
    total = 0.0
    for pid in pids:
        s = stats.get(pid) if stats is not None else stat(pid)
        total += s.cpu_seconds if s else 0.0
    return total


def cpu_by_name(stats: dict[int, ProcStat]) -> dict[str, float]:
    """CPU seconds of every process, summed by command name (redis-server,
    postgres...)."""
    out: dict[str, float] = {}
    for s in stats.values():
        out[s.comm] = out.get(s.comm, 0.0) + s.cpu_seconds
    return out


def rss_kib(pids: Iterable[int]) -> int:
    """Resident memory of these processes (VmRSS), in KiB."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in (PROC / str(pid) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def parse_machine_busy(first_line: str) -> float:
    """Busy CPU seconds of the whole machine since boot, from /proc/stat's
    "cpu" line: every state but idle and iowait."""
    parts = [int(x) for x in first_line.split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return (sum(parts[:8]) - idle) / CLK_TCK


def machine_busy_seconds() -> float:
    return parse_machine_busy((PROC / "stat").read_text().split("\n", 1)[0])
