"""Checkouts per second, latency and cost per checkout of onsale's server,
against the ceiling of the same durable work done by a bare asyncpg program,
measured in the same run, interleaved. A benchmark, not a test; loopback only.

    .venv/bin/python loadtests/bench_checkout.py                 # 1,500 buyers, 64 at once
    .venv/bin/python loadtests/bench_checkout.py --buyers 600 --rounds 3 --out /tmp/co.json
    .venv/bin/python loadtests/bench_checkout.py --buyers 600 --rounds 2 --profile /tmp/prof

Everything runs against this bench's own Postgres and Redis (started with
onsale's embedded launcher under a temporary folder, on free loopback ports:
checkout_backends.py), so their processes' CPU is this bench's alone;
Postgres with pg_stat_statements preloaded.

- onsale: ``onsale serve --workers W`` (loadtests/launch.py) with the ``test``
  payment provider, the reconciler slowed to once in 10 minutes (its
  transactions would count in the run's). Each round creates an event (one GA
  section, admission 1,000,000 a minute, max_active above the buyers) and
  --clients client processes (checkout_client.py, a raw asyncio HTTP/1.1
  client over kept-alive sockets) each take their share of --buyers: join,
  get admitted, hold one place (not measured), then, all at once on a signal,
  pay, --concurrency at a time in all (measured).
- ceiling: checkout_ceiling.py in --workers processes, --concurrency lanes in
  all: one transaction per checkout (order row, ticket row, idempotency row,
  the capacity-guarded counter last), --buyers of them.

Per run: checkouts/s (wall time from the signal to the last answer), client
p50/p99, the server's own p50/p99 (onsale_checkout_duration_seconds from
/metrics, the run's delta, interpolated within buckets), CPU per checkout of
the server (all its processes, /proc), Postgres (postmaster and backends),
Redis and the clients (their own rusage), Postgres transactions per checkout
(pg_stat_database xact_commit + xact_rollback of the target's database, read
after --settle s, when idle backends have flushed their counters), new
Postgres sessions, sessions waiting on a lock (pg_stat_activity sampled every
0.1 s) and, for onsale, pg_stat_statements per checkout. The targets run in
--rounds rounds, the order turned each round; the report gives each target's
median round and onsale over the ceiling (median, and round by round), and the
goals of issue 16. With --profile DIR, one more onsale run under py-spy
(``py-spy record --subprocesses -f raw``), summarized by package.

Prints a table on stderr and one JSON report on stdout (and to --out).
Modules: checkout_backends.py, checkout_client.py, checkout_ceiling.py,
checkout_report.py (pure; tests in tests/loadtests/test_checkout_report.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

import launch
import procstat
from checkout_backends import (
    Backends,
    LockSampler,
    db_counters,
    scans,
    statements,
    statements_reset,
)
from checkout_report import Snapshot, bucket_delta, buckets, by_package, combine, run_figures, table
from scenario import event_body, iso

LOADTESTS = Path(__file__).resolve().parent


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclasses.dataclass
class Bench:
    args: argparse.Namespace
    backends: Backends
    server: launch.Server
    admin: str
    tmp: Path

    # ---------------------------------------------------------- snapshots

    def snapshot(self, server_pid: int | None, database: str) -> Snapshot:
        stats = procstat.all_stats()
        server = 0.0
        if server_pid is not None:
            server = procstat.cpu_seconds(procstat.tree(server_pid, stats), stats)
        pg, rd = self.backends.cpu()
        counters = asyncio.run(db_counters(self.backends.root_dsn, database))
        return Snapshot(
            time.monotonic(),
            server,
            pg,
            rd,
            procstat.machine_busy_seconds(),
            counters["xact_commit"],
            counters["xact_rollback"],
        )

    def settled_counters(self, snap: Snapshot, database: str) -> tuple[Snapshot, int]:
        """``snap`` with the transaction counters read after the settle."""
        time.sleep(self.args.settle)
        c = asyncio.run(db_counters(self.backends.root_dsn, database))
        settled = dataclasses.replace(
            snap, xact_commit=c["xact_commit"], xact_rollback=c["xact_rollback"]
        )
        return settled, c["sessions"]

    # ------------------------------------------------------------ loading

    def _spawn(self, argv_jobs: list[tuple[list[str], str]]) -> list[subprocess.Popen[str]]:
        procs = []
        for argv, stdin_line in argv_jobs:
            p = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ
            )
            assert p.stdin is not None
            if stdin_line:
                p.stdin.write(stdin_line + "\n")
                p.stdin.flush()
            procs.append(p)
        return procs

    def _drive(
        self, procs: list[subprocess.Popen[str]], server_pid: int | None, database: str
    ) -> dict[str, Any]:
        """Wait for every process' ready line, settle, snapshot, signal, wait
        for their results, snapshot."""
        ready = 0
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            if not line:
                raise RuntimeError(f"a load process exited before it was ready ({p.args!r})")
            ready += int(json.loads(line)["ready"])
        log(f"    {ready} ready")
        time.sleep(self.args.settle)  # the setup's counters flushed
        before = self.snapshot(server_pid, database)
        sessions0 = asyncio.run(db_counters(self.backends.root_dsn, database))["sessions"]
        hist0 = self.scrape() if server_pid else None
        with LockSampler(self.backends.root_dsn, database) as sampler:
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            results = [json.loads(self._result(p)) for p in procs]
            after = self.snapshot(server_pid, database)
        hist = bucket_delta(hist0, self.scrape()) if hist0 is not None else None
        after, sessions1 = self.settled_counters(after, database)
        latencies = [x for r in results for x in r["latencies"]]
        statuses: dict[str, int] = {}
        for r in results:
            for k, v in r["statuses"].items():
                statuses[k] = statuses.get(k, 0) + v
        done = statuses.get("201", 0)
        figures = run_figures(
            before,
            after,
            done=done,
            errors=sum(statuses.values()) - done,
            latencies_s=latencies,
            client_cpu=sum(float(r["cpu"]) for r in results),
            server_hist=hist,
        )
        return {
            **figures,
            "statuses": statuses,
            "ready": ready,
            "new_postgres_sessions": sessions1 - sessions0,
            **sampler.summary(),
        }

    def _result(self, p: subprocess.Popen[str]) -> str:
        assert p.stdout is not None
        timer = threading.Timer(self.args.timeout, p.kill)
        timer.start()
        try:
            line = p.stdout.readline()
            p.wait(timeout=30)
        finally:
            timer.cancel()
        if not line:
            raise RuntimeError(f"a load process gave no result ({p.args!r})")
        return line

    def scrape(self) -> dict[float, float]:
        r = httpx.get(f"{self.server.url}/metrics", timeout=10, trust_env=False)
        r.raise_for_status()
        return buckets(r.text)

    def new_event(self) -> str:
        n = self.args.buyers
        admission = {"rate_per_minute": 1_000_000, "max_active": n + 10, "session_seconds": 3600}
        body = event_body("Checkout benchmark", admission=admission, ga=100_000)
        body["limits"] = {"per_order": 6, "per_buyer": 6}
        with httpx.Client(base_url=self.server.url, timeout=30, trust_env=False) as c:
            venue = c.post(
                "/api/admin/venues",
                headers={"Authorization": f"Bearer {self.admin}"},
                json={"name": "Bench", "slug": f"bench-{secrets.token_hex(4)}", "timezone": "UTC"},
            )
            venue.raise_for_status()
            r = c.post(
                "/api/admin/events",
                json=body,
                headers={"Authorization": f"Bearer {venue.json()['api_key']}"},
            )
            r.raise_for_status()
            return str(r.json()["id"])

    def _client_jobs(self, event_id: str) -> list[tuple[list[str], str]]:
        a = self.args
        jobs = []
        for k in range(a.clients):
            first = k * a.buyers // a.clients
            count = (k + 1) * a.buyers // a.clients - first
            lanes = (k + 1) * a.concurrency // a.clients - k * a.concurrency // a.clients
            job = {
                "url": self.server.url,
                "event_id": event_id,
                "first": first,
                "count": count,
                "concurrency": lanes,
            }
            argv = [sys.executable, str(LOADTESTS / "checkout_client.py")]
            jobs.append((argv, json.dumps(job)))
        return jobs

    def run_onsale(self, profile: Path | None = None) -> dict[str, Any]:
        event_id = self.new_event()
        asyncio.run(statements_reset(self.backends.onsale_dsn))
        scans0 = asyncio.run(scans(self.backends.onsale_dsn))
        procs = self._spawn(self._client_jobs(event_id))
        spy = None
        if profile is not None:
            spy = self._py_spy(profile)
        try:
            out = self._drive(procs, self.server.pid, "onsale")
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
        dsn, per = self.backends.onsale_dsn, max(out["checkouts"], 1)
        out["statements"] = asyncio.run(statements(dsn, per))
        # table and index scans per checkout (stats flushed: read after the settle)
        scans1 = asyncio.run(scans(dsn))
        delta = {k: round((v - scans0.get(k, 0)) / per, 2) for k, v in scans1.items()}
        out["scans_per_checkout"] = {k: v for k, v in sorted(delta.items()) if v}
        return out

    def _py_spy(self, path: Path) -> subprocess.Popen[bytes]:
        spy = Path(sys.executable).parent / "py-spy"
        argv = [str(spy), "record", "-p", str(self.server.pid), "--subprocesses", "-r", "100"]
        argv += ["-f", "raw", "--full-filenames", "-o", str(path), "--nonblocking"]
        log(f"    profiling: {shlex.join(argv)}")
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def run_ceiling(self) -> dict[str, Any]:
        a = self.args
        jobs = []
        for k in range(a.workers):
            count = (k + 1) * a.buyers // a.workers - k * a.buyers // a.workers
            lanes = (k + 1) * a.concurrency // a.workers - k * a.concurrency // a.workers
            argv = [sys.executable, str(LOADTESTS / "checkout_ceiling.py")]
            argv += [self.backends.ceiling_dsn, str(count), str(lanes)]
            jobs.append((argv, ""))
        # the ceiling's processes are their own server: their CPU is in "client"
        out = self._drive(self._spawn(jobs), None, "ceiling")
        out["server_cpu_ms_per_checkout"] = out.pop("client_cpu_ms_per_checkout")
        out.pop("client_cores", None)
        return out


def _rounds(bench: Bench, count: int) -> list[dict[str, dict[str, Any]]]:
    rounds = []
    for i in range(count):
        order = ["onsale", "ceiling"] if i % 2 == 0 else ["ceiling", "onsale"]
        log(f"round {i + 1}/{count}: {', '.join(order)}")
        r: dict[str, dict[str, Any]] = {}
        for name in order:
            r[name] = bench.run_onsale() if name == "onsale" else bench.run_ceiling()
            log(
                f"  {name}: {r[name]['checkouts_per_second']} checkouts/s, "
                f"p99 {r[name].get('server_p99_ms')} ms (server) "
                f"{r[name]['client_p99_ms']} ms (client), {r[name]['xacts_per_checkout']} xacts"
            )
        rounds.append(r)
    return rounds


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--buyers", type=int, default=1500, help="checkouts per run")
    p.add_argument("--concurrency", type=int, default=64, help="buyers paying at once")
    p.add_argument("--workers", type=int, default=2, help="onsale workers (ceiling processes)")
    p.add_argument("--clients", type=int, default=2, help="client processes")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument(
        "--settle", type=float, default=11.0, help="s for idle backends to flush their counters"
    )
    p.add_argument("--timeout", type=float, default=300.0, help="s at most per measured run")
    p.add_argument("--profile", type=Path, help="directory: one more onsale run under py-spy")
    p.add_argument("--out", type=Path, help="also write the JSON report here")
    return p


def _check(a: argparse.Namespace) -> None:
    if not 1 <= a.buyers <= 20_000 or not 1 <= a.concurrency <= 256:
        raise SystemExit("--buyers must be 1-20000, --concurrency 1-256")
    if not 1 <= a.workers <= 8 or not 1 <= a.clients <= 16 or not 1 <= a.rounds <= 10:
        raise SystemExit("--workers must be 1-8, --clients 1-16, --rounds 1-10")
    if a.concurrency < a.clients or a.concurrency < a.workers:
        raise SystemExit("--concurrency must be at least --clients and --workers")
    if not 0 <= a.settle <= 30 or not 10 <= a.timeout <= 1800:
        raise SystemExit("--settle must be 0-30, --timeout 10-1800")


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    backends = Backends(tmp / "backends")
    try:
        import checkout_ceiling

        asyncio.run(checkout_ceiling.prepare(backends.ceiling_dsn))
        admin = secrets.token_urlsafe(32)
        env = launch.onsale_env(
            admin,
            ONSALE_REDIS_URL=backends.redis_url,
            ONSALE_DATABASE_URL=backends.onsale_dsn,
            ONSALE_DATA_DIR=str(tmp / "data"),
            ONSALE_RECONCILE_INTERVAL_SECONDS="600",
            ONSALE_TEST_PAYMENTS="1",
        )
        server = launch.onsale(env, workers=args.workers, log=tmp / "onsale.log")
        with server:
            bench = Bench(args, backends, server, admin, tmp)
            rounds = _rounds(bench, args.rounds)
            result: dict[str, Any] = combine(rounds)
            result["rounds"] = rounds
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
                raw = args.profile / "onsale-checkout.txt"
                prof = bench.run_onsale(profile=raw)
                result["profile"] = {
                    "file": str(raw),
                    "run": {k: v for k, v in prof.items() if k != "statements"},
                    **by_package(raw.read_text().splitlines() if raw.exists() else []),
                }
            result["server_log_tail"] = server.log_tail(3000)
        return result
    finally:
        backends.stop()


def main() -> int:
    args = _parser().parse_args()
    _check(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report: dict[str, Any] = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "started_at": iso(datetime.now(UTC)),
        "machine": {"cpus": os.cpu_count(), "load_at_start": list(os.getloadavg())},
        "buyers": args.buyers,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "clients": args.clients,
    }
    with tempfile.TemporaryDirectory(prefix="bench_checkout_") as tmp:
        report.update(run(args, Path(tmp)))
    report["machine"]["load_at_end"] = list(os.getloadavg())
    log(table(report))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
