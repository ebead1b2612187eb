"""The shared /proc reader, on this test's own processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import procstat

# A command name may hold spaces and parentheses (prctl lets a process set it).
RAW = "4242 (a) b (c) S 17 4242 4242 0 -1 4194560 500 0 0 0 250 50 1 2 20 0 3 0 99 123 45"


def test_parse_stat_reads_the_fields_after_the_last_parenthesis() -> None:
    s = procstat.parse_stat(4242, RAW)
    assert (s.pid, s.comm, s.state, s.ppid, s.pgrp) == (4242, "a) b (c", "S", 17, 4242)
    assert (s.utime_ticks, s.stime_ticks) == (250, 50)
    assert s.cpu_seconds == 300 / procstat.CLK_TCK


def test_machine_busy_leaves_out_idle_and_iowait() -> None:
    line = "cpu  100 5 50 1000 200 0 10 0 0 0"
    assert procstat.parse_machine_busy(line) == 165 / procstat.CLK_TCK


def test_a_process_tree_its_cpu_and_memory() -> None:
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"
    child = subprocess.Popen(
        [sys.executable, "-c", spin + "time.sleep(30)"], stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while procstat.cpu_seconds([child.pid]) < 0.2 and time.monotonic() < deadline:
            time.sleep(0.05)
        me = os.getpid()
        stats = procstat.all_stats()
        assert stats[child.pid].ppid == me
        tree = procstat.tree(me, stats)
        assert tree[0] == me and child.pid in tree
        assert procstat.cpu_seconds([child.pid], stats) >= 0.2
        assert procstat.rss_kib([me]) > 1000
        assert procstat.rss_kib([me, child.pid]) > procstat.rss_kib([me])
        assert procstat.alive(child.pid) and procstat.state(child.pid) in "RS"
    finally:
        child.kill()
    child.wait()
    # gone: no stat, no CPU, no memory, no tree
    assert procstat.stat(child.pid) is None and procstat.state(child.pid) == "?"
    assert not procstat.alive(child.pid)
    assert procstat.cpu_seconds([child.pid]) == 0 and procstat.rss_kib([child.pid]) == 0
    assert procstat.tree(child.pid) == []


def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while procstat.state(child.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert procstat.state(child.pid) == "Z" and not procstat.alive(child.pid)
    finally:
        child.wait()


def test_cpu_by_name_sums_processes_of_one_command() -> None:
    stats = {
        1: procstat.parse_stat(1, "1 (postgres) S 0 0 0 0 -1 0 0 0 0 0 100 0 0 0"),
        2: procstat.parse_stat(2, "2 (postgres) S 1 0 0 0 -1 0 0 0 0 0 50 50 0 0"),
        3: procstat.parse_stat(3, "3 (redis-server) S 0 0 0 0 -1 0 0 0 0 0 10 0 0 0"),
    }
    by_name = procstat.cpu_by_name(stats)
    assert by_name == {"postgres": 200 / procstat.CLK_TCK, "redis-server": 10 / procstat.CLK_TCK}
