"""Holds per second and latency under contention, side by side on one machine in
one run: onsale's real hold endpoint, the thinnest Starlette endpoint over one
Lua script (the ceiling of the stack), and the Postgres-locking hold of
Postgres-only ticketing systems. A benchmark, not a test; loopback only.

    .venv/bin/python loadtests/bench_holds.py                       # workers 1
    .venv/bin/python loadtests/bench_holds.py --workers 1 2 --out /tmp/holds.json
    .venv/bin/python loadtests/bench_holds.py --workers 1 --profile /tmp/prof
    .venv/bin/python loadtests/bench_holds.py --summarize /tmp/prof/onsale-w1.txt

Targets (each started by this script with the same uvicorn options: httptools,
uvloop, --workers W, log level warning; all stopped at the end):

- onsale: ``onsale serve`` against Redis 127.0.0.1:6379 db 5 (key prefix
  ``benchholds``) and Postgres 127.0.0.1:5432, user postgres, scratch database
  ``onsale_benchholds`` (dropped and created afresh each run, so no event of an
  earlier run is left for the admission ticker), ONSALE_JOIN_RATE_PER_MINUTE=0.
  A venue and an event (GA section FLOOR of 100,000 places) are created and
  --shoppers fans admitted through the API; each request re-holds one FLOOR
  place for one shopper (the new hold replaces the last: stock never runs out);
- bare: ``loadtests/bare/lua_app.py``, one EVALSHA of a small hold-like script
  (HGET/HINCRBY capacity check, previous hold replaced) per request;
- pg: ``loadtests/bare/pg_app.py``, one transaction per request that locks the
  quota (``SELECT ... FOR UPDATE``, or ``pg_advisory_xact_lock`` with
  --pg-lock advisory), sums the live holds and inserts one: the holds table
  grows during the run (--pg-preload N starts it with N live holds).

Load: ``wrk`` (``apt-get install -y wrk``), --connections connections (64),
--threads threads, a --warmup run then a --seconds run; a generated Lua script
gives each wrk thread its own slice of the shoppers' tokens and rotates them
per request. The three servers run side by side (idle when not loaded) and are
measured in --rounds interleaved rounds (the order turned by one each round),
so that all see the same noisy machine; the report gives each target's median
round and every round's ratios. The pg table is reset to --pg-preload rows
before each of its runs (--pg-keep: it keeps growing from round to round).

The client shares the machine's cores with the servers, so the report has
wrk's CPU (its rusage), the servers' CPU (/proc, the process and its workers),
Redis' and Postgres' CPU (/proc, by process name), the machine's busy CPU
(/proc/stat) and what is left: ``foreign_cores``, the CPU of everything else
on the machine (other people's tests), with the load average. Before each run
the script waits (at most --quiet-wait s) for other work to take at most
--busy-cores cores, and re-runs (at most --retries times) a run that was busier
than that, keeping the quietest.

With --profile DIR, one more onsale run is made per worker count with
``py-spy record -f raw`` on the server (its workers with --subprocesses) and
the top self and cumulative costs per request are summarized in the report.

Every loop is bounded in count and time. Prints a short table on stderr and
one JSON report on stdout (and to --out).

Modules: holds_targets.py (the three servers), holds_measure.py (wrk runs and
CPU snapshots), holds_wrk.py (wrk's Lua script and figures), holds_report.py
and holds_profile.py (the report, pure: tests in tests/loadtests/).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import holds_targets as targets
from bare import pg_app
from holds_measure import Live, Options, launch_target, log, measure, profile
from holds_profile import scaled, summarize
from holds_report import Served, combine, table
from holds_targets import Target
from holds_wrk import Load
from scenario import iso


def _make(name: str, workers: int, args: argparse.Namespace) -> Target:
    if name == "onsale":
        return targets.onsale(workers, args.shoppers)
    if name == "bare":
        return targets.bare(
            workers, args.shoppers, args.bare_pad_calls, args.bare_wide, args.bare_plain_pool
        )
    return targets.pg(workers, args.shoppers, args.pg_lock, args.pg_preload, args.pg_keep)


def _rounds(lives: list[Live], opts: Options, count: int) -> list[dict[str, dict[str, Any]]]:
    """``count`` rounds of every target one after the other, the order turned
    by one each round, so that all see the same (noisy) machine."""
    rounds = []
    for i in range(count):
        order = lives[i % len(lives) :] + lives[: i % len(lives)]
        log(f"round {i + 1}/{count}: {', '.join(x.target.name for x in order)}")
        rounds.append({x.target.name: measure(x, opts) for x in order})
    return rounds


def _served(live: Live) -> Served:
    return Served(
        live.target.name,
        shlex.join(live.target.argv),
        live.target.notes,
        live.log.read_text(errors="replace") if live.log.exists() else "",
    )


def _run_workers(
    workers: int, args: argparse.Namespace, opts: Options, tmp: Path
) -> dict[str, Any]:
    fingerprint = targets.src_fingerprint()
    asyncio.run(targets.fresh_database())
    targets.clear_redis()
    chosen = [_make(name, workers, args) for name in args.targets]
    with contextlib.ExitStack() as stack:
        lives = [launch_target(stack, t, workers, opts.load.threads, tmp) for t in chosen]
        rounds = _rounds(lives, opts, args.rounds)
        profiled = [x for x in lives if opts.profile and x.target.name in args.profile_targets]
        profiles = {x.target.name: profile(x, opts, workers) for x in profiled}
    result = {
        "workers": workers,
        "onsale_src": fingerprint,
        **combine(rounds, [_served(x) for x in lives]),
    }
    for name, prof in profiles.items():
        cpu = result["targets"][name].get("server_cpu_us_per_hold")
        result["targets"][name]["profile"] = scaled(prof, cpu)
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="uvicorn workers of every server; one run per value",
    )
    p.add_argument(
        "--targets", nargs="+", default=["onsale", "bare", "pg"], choices=["onsale", "bare", "pg"]
    )
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--shoppers", type=int, default=256, help="distinct shoppers (tokens)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument(
        "--bare-pad-calls",
        type=int,
        default=0,
        help="experiment: extra HGETs in the bare script (as slow in Redis as hold.lua)",
    )
    p.add_argument(
        "--bare-wide",
        action="store_true",
        help="experiment: call the bare script with 11 KEYS and 7 ARGV, like onsale",
    )
    p.add_argument(
        "--bare-plain-pool",
        action="store_true",
        help="experiment: redis-py's ConnectionPool in the bare app instead of the blocking one",
    )
    p.add_argument("--pg-lock", choices=sorted(pg_app.LOCKS), default="row")
    p.add_argument(
        "--pg-preload", type=int, default=0, help="live holds in the pg table before each run"
    )
    p.add_argument(
        "--pg-keep",
        action="store_true",
        help="do not reset the pg table between runs: it keeps growing from round to round",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds of every target, interleaved")
    p.add_argument(
        "--busy-cores",
        type=float,
        default=0.3,
        help="wait before a run, and re-run, while other work takes more cores than this",
    )
    p.add_argument("--retries", type=int, default=1, help="re-runs of a busy run")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="seconds to wait at most, before each run, for the machine to be quiet",
    )
    p.add_argument("--profile", type=Path, help="directory: py-spy the onsale server")
    p.add_argument(
        "--profile-targets",
        nargs="+",
        default=["onsale"],
        choices=["onsale", "bare", "pg"],
        help="which servers --profile records",
    )
    p.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second")
    p.add_argument("--summarize", type=Path, help="only summarize a py-spy raw file")
    p.add_argument("--requests", type=int, default=0, help="with --summarize: requests made")
    p.add_argument("--out", type=Path, help="also write the JSON report here")
    return p


def _check_args(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get update && apt-get install -y wrk")
    if not 1 <= args.seconds <= 120 or not 0 <= args.warmup <= 30:
        raise SystemExit("--seconds must be 1-120 and --warmup 0-30")
    if any(not 1 <= w <= 8 for w in args.workers) or args.shoppers < args.threads:
        raise SystemExit("--workers must be 1-8, --shoppers at least --threads")
    if not 1 <= args.rounds <= 10 or not 0 <= args.retries <= 5 or args.quiet_wait > 900:
        raise SystemExit("--rounds must be 1-10, --retries 0-5, --quiet-wait at most 900")


def main() -> int:
    args = _parser().parse_args()
    # SIGTERM as an exception, so that the servers are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.summarize:
        print(json.dumps(summarize(args.summarize, args.requests, args.profile_rate), indent=2))
        return 0
    _check_args(args)
    opts = Options(
        Load(args.connections, args.threads, args.seconds, args.warmup),
        args.busy_cores,
        args.retries,
        args.profile,
        args.profile_rate,
        args.quiet_wait,
    )
    report: dict[str, Any] = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "started_at": iso(datetime.now(UTC)),
        "machine": {"cpus": os.cpu_count(), "load_at_start": list(os.getloadavg())},
        "load": vars(opts.load),
        "shoppers": args.shoppers,
        "rounds": args.rounds,
        "runs": [],
    }
    try:
        with tempfile.TemporaryDirectory(prefix="bench_holds_") as tmp:
            for workers in args.workers:
                report["runs"].append(_run_workers(workers, args, opts, Path(tmp)))
    finally:
        targets.clear_redis()
    report["machine"]["load_at_end"] = list(os.getloadavg())
    report["median_foreign_cores"] = statistics.median(
        [r["foreign_cores"] or 0 for run in report["runs"] for r in run["targets"].values()] or [0]
    )
    log(table(report))
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
