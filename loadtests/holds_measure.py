"""bench_holds.py's measuring: start a target, wait for a quiet machine, run
wrk against it between two CPU snapshots (/proc through procstat.py, Redis'
commandstats), and profile it with py-spy."""

from __future__ import annotations

import contextlib
import os
import resource
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

import launch
import procstat
from holds_profile import summarize
from holds_report import CpuSnapshot, cpu_report
from holds_targets import REDIS_URL, Target
from holds_wrk import Load, figures, run_wrk, wrk_argv, wrk_script


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _evalsha_stats() -> tuple[int, int]:
    """EVALSHA calls and microseconds spent in them, as Redis counts them."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        stats = client.info("commandstats").get("cmdstat_evalsha", {})
    finally:
        client.close()
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def _snapshot(server_pid: int) -> CpuSnapshot:
    stats = procstat.all_stats()
    by_name = procstat.cpu_by_name(stats)
    # wrk has exited by the second snapshot: its CPU is in our children's rusage
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSnapshot(
        at=time.monotonic(),
        machine_busy=procstat.machine_busy_seconds(),
        server=procstat.cpu_seconds(procstat.tree(server_pid, stats), stats),
        redis=by_name.get("redis-server", 0.0),
        postgres=by_name.get("postgres", 0.0),
        children=kids.ru_utime + kids.ru_stime,
        load=os.getloadavg(),
        evalsha=_evalsha_stats(),
    )


@dataclass(frozen=True)
class Options:
    load: Load
    busy_cores: float
    retries: int
    profile: Path | None
    profile_rate: int
    quiet_wait: float


def _measure_once(target: Target, pid: int, argv: list[str], seconds: float) -> dict[str, Any]:
    before = _snapshot(pid)
    wrk = run_wrk(argv, seconds)
    after = _snapshot(pid)
    return {**figures(wrk), **cpu_report(before, after, wrk["requests"])}


def _busy_cores(seconds: float = 1.0) -> float:
    """Cores the machine kept busy over the next ``seconds`` (our servers idle)."""
    a, t = procstat.machine_busy_seconds(), time.monotonic()
    time.sleep(seconds)
    return (procstat.machine_busy_seconds() - a) / (time.monotonic() - t)


def _wait_quiet(threshold: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) until other work takes at most ``threshold``
    cores; return the last figure seen."""
    deadline = time.monotonic() + max_wait
    busy = _busy_cores()
    while busy > threshold and time.monotonic() < deadline:
        log(f"  machine busy ({busy:.2f} cores, load {os.getloadavg()[0]:.2f}): waiting")
        time.sleep(4.0)
        busy = _busy_cores()
    return busy


@dataclass
class Live:
    """A started target, ready to be loaded."""

    target: Target
    server: launch.Server
    script: Path
    log: Path


def measure(live: Live, opts: Options) -> dict[str, Any]:
    """Warm up, then measure; again (at most ``retries`` times) while other work
    took more than ``busy_cores`` of the machine. Keeps the quietest run."""
    target, load = live.target, opts.load
    notes = target.before_run()
    if load.warmup > 0:
        run_wrk(wrk_argv(live.server.url, live.script, load, load.warmup), load.warmup)
    argv = wrk_argv(live.server.url, live.script, load, load.seconds)
    runs: list[dict[str, Any]] = []
    for _ in range(opts.retries + 1):
        quiet = _wait_quiet(opts.busy_cores, opts.quiet_wait)
        runs.append(_measure_once(target, live.server.pid, argv, load.seconds))
        runs[-1]["busy_cores_before"] = round(quiet, 2)
        log(
            f"  {target.name}: {runs[-1]['holds_per_second']:.0f} holds/s, "
            f"p99 {runs[-1]['p99_ms']} ms, foreign {runs[-1]['foreign_cores']} cores, "
            f"load {runs[-1]['load_before'][0]}"
        )
        if (runs[-1]["foreign_cores"] or 0) <= opts.busy_cores:
            break
    best = min(runs, key=lambda r: r["foreign_cores"] or 0)
    return {
        **best,
        **notes,
        **target.after_run(),
        "attempts": [
            {k: r[k] for k in ("holds_per_second", "p99_ms", "foreign_cores", "load_before")}
            for r in runs
        ],
        "wrk_command": shlex.join(argv),
    }


def profile(live: Live, opts: Options, workers: int) -> dict[str, Any]:
    target, pid, script = live.target, live.server.pid, live.script
    assert opts.profile is not None
    opts.profile.mkdir(parents=True, exist_ok=True)
    out = opts.profile / f"{target.name}-w{workers}.txt"
    seconds = int(opts.load.seconds)
    spy = [
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        "-p",
        str(pid),
        "-d",
        str(seconds + 1),
        "-r",
        str(opts.profile_rate),
        "-f",
        "raw",
        "--gil",
        "--full-filenames",
        "-o",
        str(out),
    ]
    if workers > 1:
        spy.append("--subprocesses")
    quiet = _wait_quiet(opts.busy_cores, opts.quiet_wait)
    with out.with_suffix(".log").open("wb") as spy_log:
        proc = subprocess.Popen(spy, stdout=spy_log, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)  # py-spy attaches
        wrk = run_wrk(wrk_argv(live.server.url, script, opts.load, seconds), seconds)
        proc.wait(timeout=seconds + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    summary = summarize(out, wrk["requests"], opts.profile_rate)
    return {
        "command": shlex.join(spy),
        "file": str(out),
        "busy_cores_before": round(quiet, 2),
        **summary,
    }


def launch_target(
    stack: contextlib.ExitStack, target: Target, workers: int, threads: int, tmp: Path
) -> Live:
    """Start the target's server (stopped when ``stack`` closes), set it up and
    write its wrk script."""
    log(f"[workers={workers}] {target.name}: starting {shlex.join(target.argv[1:])}")
    log_file = tmp / f"{target.name}-w{workers}.log"
    server = launch.Server(target.argv, target.env, target.port, log_file, target.ready)
    stack.enter_context(server)
    path, tokens = target.setup(server.url)
    script = wrk_script(tmp, f"{target.name}-w{workers}", path, tokens, threads)
    return Live(target, server, script, log_file)
