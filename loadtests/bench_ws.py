"""The websocket waiting room at scale: N fans connected at once to one onsale,
measured from outside, on loopback only. A benchmark, not a test.

    python loadtests/bench_ws.py --fans 2000 --seconds 15     # starts `onsale serve`
    python loadtests/bench_ws.py --fans 20000 --seconds 20 --clients 4
    python loadtests/bench_ws.py --url http://127.0.0.1:8000 --admin-token T --server-pid PID

Without --url it starts `onsale serve --workers W` on a free port with the
environment it is given (ONSALE_REDIS_URL, ONSALE_DATABASE_URL,
ONSALE_REDIS_PREFIX, ONSALE_PUSH_INTERVAL_SECONDS...; embedded servers when the
URLs are unset) plus a fresh ONSALE_ADMIN_TOKEN, ONSALE_JOIN_RATE_PER_MINUTE=0
(no per-IP join limit: every fan comes from 127.0.0.1) and
ONSALE_LOG_LEVEL=WARNING. For instance:

    ONSALE_REDIS_URL=redis://127.0.0.1:6379/4 ONSALE_REDIS_PREFIX=bench \\
    ONSALE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/onsale_bench \\
    .venv/bin/python loadtests/bench_ws.py --fans 10000 --seconds 20

With --url the server must run with ONSALE_JOIN_RATE_PER_MINUTE=0; give
--server-pid to get its memory and CPU figures.

It creates a venue and an event (GA capacity 100,000, sale open, no limit on
active shoppers, nobody skipped as away) admitting 1 fan a minute, then
--clients processes (default: one per 5,000 fans) each join their share of
the fans over HTTP (200 at a time per process, on keep-alive connections) and
open each fan's websocket (deflate off, no pings; a failed handshake is tried
again 1 s, then 2 s later, as a fan's page would), and keep it open, counting
what it receives. Once every fan is connected (or --ramp-seconds ran out) the
event's admission rate is set to --rate per minute and, --settle seconds
later (the server's ETA estimator keeps 5 minutes of history: --settle 300
measures a sale in its steady state), it measures for --seconds:

- server memory per fan: (RSS with every fan connected - RSS before the first
  join) / fans connected; RSS is VmRSS of the server process plus its children
  (the workers), from /proc;
- the push pass: mean time of one pass over every fan, from the delta of the
  onsale_ws_push_pass_seconds histogram, and the bucket of the slowest pass;
- delivery lag: client receive time - the message's "ts" (Redis' clock at the
  tick; same machine, same clock), p50/p90/p99/max in ms; and per push tick
  (messages with the same "ts"): when its first message arrived, over how
  long its messages arrived, and the time between ticks (the push period);
- status messages received per second (all fans, and per fan), admissions per
  second ("admitted" messages received), sockets the server closed without a
  last ("admitted"/"closed") message;
- server CPU seconds (/proc) and client CPU seconds, the client process count,
  and the machine's load average (other work on the machine skews everything).

With --workers > 1, GET /metrics answers from whichever worker takes the
request: the metric figures may be one worker's, the memory and CPU are the sum
of all, and the per-tick figures mix the ticks of every worker.
Every loop is bounded in count and time. Prints one JSON report on stdout (the
server's own output goes to stderr). The event is closed at the end (its sale
window ends), so that later runs do not keep admitting into it.

Modules: ws_client.py (a client process) and ws_tally.py (what it counts),
ws_server.py (the server and its event), ws_report.py (the report, pure:
tests in tests/loadtests/).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import secrets
import shlex
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx

import launch
from ws_client import CLOSE_SECONDS, client_process, raise_nofile, recv
from ws_report import Run, ServerSample, Setup, report
from ws_server import BenchEvent, close_event, create_event, sample, set_rate
from ws_tally import Plan

MAX_SECONDS = 300.0
MAX_SETTLE_SECONDS = 600.0
MAX_RAMP_SECONDS = 900.0
FANS_PER_CLIENT = 5_000
# A process may hold 20,000 files here: keep room for the HTTP pool and the rest.
MAX_FANS_PER_CLIENT = 19_000
JOIN_CONCURRENCY = 200
SERVER_READY_SECONDS = 90.0
WINDOW_LEAD_SECONDS = 1.0  # between "everyone is ready" and the window's start


@dataclass
class Clients:
    processes: list[multiprocessing.process.BaseProcess]
    conns: list[Connection]

    def collect(self, phase: str, timeout: float) -> list[dict[str, Any]]:
        """One ``phase`` message from each client (missing ones left out)."""
        deadline = time.monotonic() + timeout
        out = []
        for conn in self.conns:
            message = recv(conn, deadline - time.monotonic())
            if isinstance(message, dict) and message.get("phase") == phase:
                out.append(message)
        return out

    def send_all(self, message: object) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(message)

    def stop(self) -> None:
        deadline = time.monotonic() + CLOSE_SECONDS + 10
        for proc in self.processes:
            proc.join(max(deadline - time.monotonic(), 0.1))
        for proc in self.processes:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


def _spawn_clients(plans: list[Plan]) -> Clients:
    ctx = multiprocessing.get_context("spawn")
    clients = Clients([], [])
    for plan in plans:
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=client_process, args=(plan, theirs), daemon=True)
        proc.start()
        theirs.close()
        clients.processes.append(proc)
        clients.conns.append(ours)
    return clients


def _plans(args: argparse.Namespace, url: str, event_id: str) -> list[Plan]:
    lifetime = args.ramp_seconds + args.settle + args.seconds + 120
    shares = [
        args.fans // args.clients + (i < args.fans % args.clients) for i in range(args.clients)
    ]
    return [
        Plan(url, event_id, share, JOIN_CONCURRENCY, args.ramp_seconds, lifetime)
        for share in shares
        if share
    ]


def _measure(
    args: argparse.Namespace, http: httpx.Client, clients: Clients, event: BenchEvent
) -> tuple[float, list[dict[str, Any]], ServerSample, ServerSample]:
    ramp_started = time.monotonic()
    ready = clients.collect("ready", args.ramp_seconds + 60)
    ramp_seconds = time.monotonic() - ramp_started
    if not set_rate(http, event, args.rate):
        raise RuntimeError("could not set the admission rate")
    t_start = time.time() + WINDOW_LEAD_SECONDS + args.settle
    clients.send_all((t_start, t_start + args.seconds))
    time.sleep(max(t_start - time.time(), 0.0))
    start = sample(http, args.server_pid)
    time.sleep(max(t_start + args.seconds - time.time(), 0.0))
    stop = sample(http, args.server_pid)
    return ramp_seconds, ready, start, stop


def _run(args: argparse.Namespace, url: str, admin_token: str) -> Run:
    load_before = os.getloadavg()
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        event = create_event(http, admin_token)
        before = sample(http, args.server_pid)
        clients = _spawn_clients(_plans(args, url, event.id))
        try:
            ramp_seconds, ready, start, stop = _measure(args, http, clients, event)
            done = clients.collect("done", CLOSE_SECONDS + 30)
        finally:
            clients.stop()
        closed = close_event(http, event)
    return Run(ramp_seconds, ready, done, before, start, stop, load_before, os.getloadavg(), closed)


def _args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fans", type=int, default=2000, help="concurrent websocket fans")
    parser.add_argument(
        "--clients", type=int, help=f"client processes (default: fans/{FANS_PER_CLIENT})"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measuring window (max 300)")
    parser.add_argument("--settle", type=float, default=0.0, help="wait after the ramp (max 600)")
    parser.add_argument(
        "--ramp-seconds", type=float, help="join+connect timeout (default: 120 + fans/25)"
    )
    parser.add_argument("--rate", type=int, default=600, help="admissions per minute")
    parser.add_argument("--workers", type=int, default=1, help="server workers (own server)")
    parser.add_argument("--url", help="a running onsale (default: start one)")
    parser.add_argument("--admin-token", default=os.environ.get("ONSALE_ADMIN_TOKEN", ""))
    parser.add_argument("--server-pid", type=int, help="the running server's pid (with --url)")
    args = parser.parse_args(argv)
    args.clients = args.clients or max(math.ceil(args.fans / FANS_PER_CLIENT), 1)
    args.ramp_seconds = args.ramp_seconds or min(120 + args.fans / 25, MAX_RAMP_SECONDS)
    _check(parser, args)
    return args


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 1 <= args.fans <= 200_000:
        parser.error("--fans must be between 1 and 200000")
    if not 1 <= args.clients <= 64 or math.ceil(args.fans / args.clients) > MAX_FANS_PER_CLIENT:
        parser.error(f"--clients: 1 to 64 processes of at most {MAX_FANS_PER_CLIENT} fans")
    if not 0 < args.seconds <= MAX_SECONDS or not 0 <= args.settle <= MAX_SETTLE_SECONDS:
        parser.error(f"--seconds: 0 to {MAX_SECONDS:.0f}; --settle: 0 to {MAX_SETTLE_SECONDS:.0f}")
    if not 1 <= args.ramp_seconds <= MAX_RAMP_SECONDS:
        parser.error(f"--ramp-seconds: 1 to {MAX_RAMP_SECONDS:.0f}")
    if not 1 <= args.rate <= 1_000_000 or not 1 <= args.workers <= 16:
        parser.error("--rate: 1 to 1000000; --workers: 1 to 16")
    if args.url and not args.admin_token:
        parser.error("--url needs --admin-token (or ONSALE_ADMIN_TOKEN)")
    for url in filter(None, [args.url]):
        host = httpx.URL(url).host
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error("--url must be on loopback")


def _setup(args: argparse.Namespace, url: str) -> Setup:
    return Setup(
        command=shlex.join([sys.executable, *sys.argv]),
        url=url,
        fans=args.fans,
        workers=args.workers if args.url is None else None,
        rate_per_minute=args.rate,
        seconds=args.seconds,
        settle_seconds=args.settle,
        push_interval_seconds=float(os.environ.get("ONSALE_PUSH_INTERVAL_SECONDS") or 1.0),
        cpus=os.cpu_count(),
    )


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    raise_nofile()  # before spawning: the server and the clients inherit it
    server = None
    url, token = args.url, args.admin_token
    if url is None:
        # launch.onsale_env: a fresh admin token, ONSALE_JOIN_RATE_PER_MINUTE=0
        # (every fan joins from 127.0.0.1), ONSALE_LOG_LEVEL=WARNING
        token = secrets.token_urlsafe(16)
        server = launch.onsale(launch.onsale_env(token), workers=args.workers)
        server.start(SERVER_READY_SECONDS)
        url, args.server_pid = server.url, server.pid
    try:
        run = _run(args, url, token)
    finally:
        if server:
            server.stop(grace=30)
    print(json.dumps(report(_setup(args, url), run), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
