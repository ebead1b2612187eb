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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import resource
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from scenario import event_body, free_port, iso, serve_command

MAX_SECONDS = 300.0
MAX_SETTLE_SECONDS = 600.0
MAX_RAMP_SECONDS = 900.0
FANS_PER_CLIENT = 5_000
# A process may hold 20,000 files here: keep room for the HTTP pool and the rest.
MAX_FANS_PER_CLIENT = 19_000
JOIN_CONCURRENCY = 200
JOIN_ATTEMPTS = 3
JOIN_TIMEOUT_SECONDS = 30.0
CAPACITY = 100_000
RAMP_RATE_PER_MINUTE = 1  # the lowest the API takes
SERVER_READY_SECONDS = 90.0
CLOSE_SECONDS = 20.0
WINDOW_LEAD_SECONDS = 1.0  # between "everyone is ready" and the window's start
STATUS_PREFIX = '{"type":"status"'
FINAL_TYPES = ("admitted", "closed")
BACKEND_COMMANDS = ("redis", "postgres")  # embedded servers are not the server's memory
PASS_METRIC = "onsale_ws_push_pass_seconds"


# ---------------------------------------------------------------- helpers


def _raise_nofile() -> int:
    """Raise this process' open-file limit to the hard limit; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _percentile(hist: Counter[int], p: float) -> int | None:
    """The p-quantile of a histogram of whole milliseconds."""
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = max(math.ceil(total * p), 1), 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return max(hist)


def _recv(conn: Connection, timeout: float) -> Any:
    """The next message on ``conn``, or None after ``timeout`` or at EOF."""
    try:
        return conn.recv() if conn.poll(max(timeout, 0.0)) else None
    except (EOFError, OSError):
        return None


# ---------------------------------------------------------------- /proc


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state is [0])."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _process_tree(root: int) -> list[int]:
    """``root`` and its descendants, leaving out embedded Redis / Postgres."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat_fields(int(entry.name)) if entry.name.isdigit() else None
        if fields:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    for _ in range(10_000):
        if not todo:
            break
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return [p for p in tree if not _command(p).startswith(BACKEND_COMMANDS)]


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _rss_kib(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def _cpu_seconds(pids: Iterable[int]) -> float:
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ServerSample:
    """The server's processes, memory, CPU and metrics at one moment."""

    at: float
    pids: tuple[int, ...]
    rss_kib: int
    cpu_seconds: float
    metrics: dict[str, float]


def _metrics(http: httpx.Client) -> dict[str, float]:
    """Every sample of GET /metrics, by its full name (labels included)."""
    out: dict[str, float] = {}
    for line in http.get("/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
    return out


def _sample(http: httpx.Client, pid: int | None) -> ServerSample:
    pids = tuple(_process_tree(pid)) if pid else ()
    return ServerSample(time.time(), pids, _rss_kib(pids), _cpu_seconds(pids), _metrics(http))


# ---------------------------------------------------------------- the server


def _start_server(workers: int, admin_token: str) -> tuple[subprocess.Popen[bytes], str]:
    """``onsale serve`` on a free loopback port; it inherits the raised file limit."""
    port = free_port()
    env = {
        **os.environ,
        "ONSALE_ADMIN_TOKEN": admin_token,
        "ONSALE_JOIN_RATE_PER_MINUTE": "0",
        "ONSALE_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        serve_command(port, workers),
        env=env,
        stdout=sys.stderr,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_READY_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=1, trust_env=False).status_code == 200:
                return proc, url
        time.sleep(0.3)
    _stop_server(proc)
    raise RuntimeError(f"the server did not become ready within {SERVER_READY_SECONDS:.0f} s")


def _stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn stops its workers); SIGKILL to it and its workers, by
    pid, if it lingers."""
    tree = _process_tree(proc.pid) if proc.poll() is None else []
    proc.terminate()
    try:
        proc.wait(timeout=30)
        return
    except subprocess.TimeoutExpired:
        pass
    for pid in tree:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _event_body(rate: int) -> dict[str, Any]:
    admission = {
        "rate_per_minute": rate,
        "max_active": 1_000_000,
        "session_seconds": 600,
        "absent_grace_seconds": 600,
    }
    return event_body(
        "Websocket benchmark", admission=admission, ga=CAPACITY, closes_in=timedelta(days=1)
    )


@dataclass(frozen=True)
class BenchEvent:
    id: str
    venue_key: str


def _create_event(http: httpx.Client, admin_token: str) -> BenchEvent:
    """A new venue's new event, admitting (almost) nobody until _set_rate."""
    venue = http.post(
        "/api/admin/venues",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={"name": "WS bench", "slug": f"ws-bench-{secrets.token_hex(4)}", "timezone": "UTC"},
    )
    if venue.status_code != 201:
        raise RuntimeError(f"creating the venue: {venue.status_code} {venue.text}")
    key = str(venue.json()["api_key"])
    event = http.post(
        "/api/admin/events",
        headers={"Authorization": f"Bearer {key}"},
        json=_event_body(RAMP_RATE_PER_MINUTE),
    )
    if event.status_code != 201:
        raise RuntimeError(f"creating the event: {event.status_code} {event.text}")
    return BenchEvent(str(event.json()["id"]), key)


def _patch_event(http: httpx.Client, event: BenchEvent, body: dict[str, Any]) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        r = http.patch(
            f"/api/admin/events/{event.id}",
            headers={"Authorization": f"Bearer {event.venue_key}"},
            json=body,
        )
        return r.status_code == 200
    return False


def _set_rate(http: httpx.Client, event: BenchEvent, rate: int) -> bool:
    """Admit at ``rate`` per minute from now on (the ramp admits 1 a minute, so
    that every fan is still waiting, and connected, when the window starts)."""
    return _patch_event(http, event, {"admission": {"rate_per_minute": rate}})


def _close_event(http: httpx.Client, event: BenchEvent) -> bool:
    """End the event's sale now, so that no process keeps admitting into it."""
    return _patch_event(http, event, {"sale": {"closes_at": iso(datetime.now(UTC))}})


# ---------------------------------------------------------------- a client process


@dataclass(frozen=True)
class Plan:
    """What one client process does (sent to it pickled)."""

    url: str
    event_id: str
    fans: int
    concurrency: int
    ramp_seconds: float
    lifetime_seconds: float  # the bound on the whole process

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


@dataclass
class Tally:
    """What the fans of one client process saw. Counts in the window only,
    unless the name says otherwise."""

    fans: int
    t_start: float = math.inf
    t_stop: float = math.inf
    stopping: bool = False
    settled: int = 0  # fans whose join + connect finished, well or not
    connected: int = 0
    open_now: int = 0
    open_at_start: int = 0
    status: int = 0
    untimed: int = 0  # status messages without "ts"
    admitted: int = 0
    admitted_all_run: int = 0
    closed_all_run: int = 0
    lost_final_all_run: int = 0  # closed by the server with no admitted/closed message
    cpu_window: float = 0.0
    lag_ms: Counter[int] = field(default_factory=Counter)
    # ts of a tick -> [first arrival ms, last arrival ms, messages]
    ticks: dict[int, list[int]] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    server_closes: Counter[str] = field(default_factory=Counter)
    sockets: set[ClientConnection] = field(default_factory=set)
    ramp_done: asyncio.Event = field(default_factory=asyncio.Event)

    def settle(self) -> None:
        self.settled += 1
        if self.settled >= self.fans:
            self.ramp_done.set()

    def record(self, raw: str | bytes, now: float) -> bool:
        """Count one message; True when it is the fan's last one."""
        text = raw if isinstance(raw, str) else raw.decode()
        in_window = self.t_start <= now < self.t_stop
        if text.startswith(STATUS_PREFIX):
            if in_window:
                self._status(text, now)
            return False
        kind = json.loads(text).get("type")
        if kind == "admitted":
            self.admitted_all_run += 1
            self.admitted += in_window
        elif kind == "closed":
            self.closed_all_run += 1
        return kind in FINAL_TYPES

    def _status(self, text: str, now: float) -> None:
        self.status += 1
        ts = _ts(text)
        if ts is None:
            self.untimed += 1
            return
        now_ms = int(now * 1000)
        self.lag_ms[max(now_ms - ts, 0)] += 1
        tick = self.ticks.setdefault(ts, [now_ms, now_ms, 0])
        tick[0], tick[1], tick[2] = min(tick[0], now_ms), max(tick[1], now_ms), tick[2] + 1

    def ramp_report(self) -> dict[str, Any]:
        return {"connected": self.connected, "failures": dict(self.failures)}

    def report(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "open_at_start": self.open_at_start,
            "status": self.status,
            "untimed": self.untimed,
            "admitted": self.admitted,
            "admitted_all_run": self.admitted_all_run,
            "closed_all_run": self.closed_all_run,
            "lost_final_all_run": self.lost_final_all_run,
            "cpu_window": self.cpu_window,
            "lag_ms": dict(self.lag_ms),
            "ticks": self.ticks,
            "failures": dict(self.failures),
            "server_closes": dict(self.server_closes),
        }


def _ts(text: str) -> int | None:
    """The "ts" of a status message (its last field, so read from the end)."""
    at = text.rfind('"ts":')
    if at < 0:
        return None
    digits = text[at + 5 :].rstrip("} ")
    if digits.isdigit():
        return int(digits)
    ts = json.loads(text).get("ts")
    return ts if isinstance(ts, int) else None


class JoinRefused(Exception):
    pass


class Joiner:
    """Joins fans over one keep-alive HTTP/1.1 connection, one at a time.

    Plain asyncio streams: httpx's connection pool costs the client some 20 ms
    of CPU per join with 200 connections, which would starve the server of
    the machine's CPU during the ramp."""

    def __init__(self, host: str, port: int, event_id: str) -> None:
        self.host, self.port = host, port
        self.request = (
            f"POST /api/events/{event_id}/queue HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def join(self) -> str:
        """A new queue token. Raises JoinRefused, OSError, TimeoutError."""
        status = 0
        for attempt in range(JOIN_ATTEMPTS):
            try:
                async with asyncio.timeout(JOIN_TIMEOUT_SECONDS):
                    status, body = await self._post()
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                self.close()  # e.g. the server ended an idle keep-alive connection
                if attempt == JOIN_ATTEMPTS - 1:
                    raise
                continue
            if status in (200, 201):
                return str(json.loads(body)["queue_token"])
            await asyncio.sleep(0.5 * (attempt + 1))
        raise JoinRefused(f"HTTP {status}")

    async def _post(self) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(self.request)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        length = next(
            (int(line[15:]) for line in head.split("\r\n") if line.startswith("content-length:")),
            0,
        )
        body = await reader.readexactly(length)
        if "connection: close" in head:
            self.close()
        return int(head.split(" ", 2)[1]), body

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


# Handshakes a fan tries before giving up (1 s, then 2 s apart).
CONNECT_ATTEMPTS = 3


async def _open(plan: Plan, joiner: Joiner, tally: Tally) -> ClientConnection | None:
    """Join one fan and open their websocket; None (and counted) on failure."""
    try:
        token = await joiner.join()
    except (OSError, TimeoutError, JoinRefused, KeyError, ValueError) as exc:
        tally.failures[f"join: {type(exc).__name__} {exc}"[:120]] += 1
        return None
    uri = f"{plan.ws_url}/ws/events/{plan.event_id}/queue?token={quote(token)}"
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return await connect(
                uri,
                compression=None,
                max_queue=4,
                ping_interval=None,
                open_timeout=30,
                close_timeout=5,
                proxy=None,
                user_agent_header=None,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            # A fan's page tries again with the same token, a little later.
            last = attempt == CONNECT_ATTEMPTS
            kind = "connect" if last else "connect (tried again)"
            tally.failures[f"{kind}: {type(exc).__name__} {exc}"[:120]] += 1
            if not last:
                await asyncio.sleep(attempt)
    return None


async def _fan(plan: Plan, joiners: asyncio.Queue[Joiner], tally: Tally) -> None:
    """One fan: join, connect, then read until the socket closes."""
    joiner = await joiners.get()  # at most plan.concurrency fans join at once
    try:
        ws = await _open(plan, joiner, tally)
    finally:
        joiners.put_nowait(joiner)
    tally.settle()
    if ws is None:
        return
    tally.connected += 1
    tally.open_now += 1
    tally.sockets.add(ws)
    final = False
    try:
        async for raw in ws:
            final = tally.record(raw, time.time()) or final
    except ConnectionClosed:
        pass
    finally:
        tally.open_now -= 1
        tally.sockets.discard(ws)
    if not tally.stopping:
        tally.server_closes[str(ws.close_code)] += 1
        tally.lost_final_all_run += not final


async def _window(plan: Plan, conn: Connection, tally: Tally) -> None:
    """Report the ramp, wait for the window the parent names, measure it."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(tally.ramp_done.wait(), plan.ramp_seconds)
    conn.send({"phase": "ready", **tally.ramp_report()})
    window = await asyncio.to_thread(_recv, conn, plan.lifetime_seconds)
    if not window:
        return
    tally.t_start, tally.t_stop = window
    await asyncio.sleep(max(tally.t_start - time.time(), 0.0))
    tally.open_at_start, cpu0 = tally.open_now, _own_cpu_seconds()
    await asyncio.sleep(max(tally.t_stop - time.time(), 0.0))
    tally.cpu_window = _own_cpu_seconds() - cpu0


async def _close_all(tally: Tally, tasks: list[asyncio.Task[None]]) -> None:
    tally.stopping = True
    closing = [ws.close() for ws in list(tally.sockets)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), CLOSE_SECONDS)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _client(plan: Plan, conn: Connection) -> dict[str, Any]:
    tally = Tally(plan.fans)
    url = httpx.URL(plan.url)
    joiners: asyncio.Queue[Joiner] = asyncio.Queue()
    for _ in range(plan.concurrency):
        joiners.put_nowait(Joiner(url.host, url.port or 80, plan.event_id))
    tasks = [asyncio.create_task(_fan(plan, joiners, tally)) for _ in range(plan.fans)]
    try:
        async with asyncio.timeout(plan.lifetime_seconds):
            await _window(plan, conn, tally)
    finally:
        await _close_all(tally, tasks)
        while not joiners.empty():
            joiners.get_nowait().close()
    return tally.report()


def _run_loop(coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run on uvloop when it is installed (less client CPU), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _client_process(plan: Plan, conn: Connection) -> None:
    _raise_nofile()
    try:
        report = _run_loop(_client(plan, conn))
    except Exception as exc:  # reported to the parent, not lost in a traceback
        report = {"error": repr(exc)}
    report["cpu_all_run"] = _own_cpu_seconds()
    with contextlib.suppress(OSError):
        conn.send({"phase": "done", **report})
    conn.close()


# ---------------------------------------------------------------- the parent


@dataclass
class Clients:
    processes: list[multiprocessing.process.BaseProcess]
    conns: list[Connection]

    def collect(self, phase: str, timeout: float) -> list[dict[str, Any]]:
        """One ``phase`` message from each client (missing ones left out)."""
        deadline = time.monotonic() + timeout
        out = []
        for conn in self.conns:
            message = _recv(conn, deadline - time.monotonic())
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
        proc = ctx.Process(target=_client_process, args=(plan, theirs), daemon=True)
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


@dataclass
class Run:
    """The raw material of the report."""

    ramp_seconds: float
    ready: list[dict[str, Any]]
    done: list[dict[str, Any]]
    before: ServerSample
    start: ServerSample
    stop: ServerSample
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    event_closed: bool


def _measure(
    args: argparse.Namespace, http: httpx.Client, clients: Clients, event: BenchEvent
) -> tuple[float, list[dict[str, Any]], ServerSample, ServerSample]:
    ramp_started = time.monotonic()
    ready = clients.collect("ready", args.ramp_seconds + 60)
    ramp_seconds = time.monotonic() - ramp_started
    if not _set_rate(http, event, args.rate):
        raise RuntimeError("could not set the admission rate")
    t_start = time.time() + WINDOW_LEAD_SECONDS + args.settle
    clients.send_all((t_start, t_start + args.seconds))
    time.sleep(max(t_start - time.time(), 0.0))
    start = _sample(http, args.server_pid)
    time.sleep(max(t_start + args.seconds - time.time(), 0.0))
    stop = _sample(http, args.server_pid)
    return ramp_seconds, ready, start, stop


def _run(args: argparse.Namespace, url: str, admin_token: str) -> Run:
    load_before = os.getloadavg()
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        event = _create_event(http, admin_token)
        before = _sample(http, args.server_pid)
        clients = _spawn_clients(_plans(args, url, event.id))
        try:
            ramp_seconds, ready, start, stop = _measure(args, http, clients, event)
            done = clients.collect("done", CLOSE_SECONDS + 30)
        finally:
            clients.stop()
        closed = _close_event(http, event)
    return Run(ramp_seconds, ready, done, before, start, stop, load_before, os.getloadavg(), closed)


# ---------------------------------------------------------------- the report


def _sum(reports: list[dict[str, Any]], key: str) -> float:
    return sum(float(r.get(key, 0)) for r in reports)


def _counters(reports: list[dict[str, Any]], key: str) -> Counter[Any]:
    total: Counter[Any] = Counter()
    for r in reports:
        total.update(r.get(key, {}))
    return total


def _delta(run: Run, name: str) -> float:
    return run.stop.metrics.get(name, 0.0) - run.start.metrics.get(name, 0.0)


def _pass_report(run: Run) -> dict[str, Any]:
    count = _delta(run, f"{PASS_METRIC}_count")
    total = _delta(run, f"{PASS_METRIC}_sum")
    buckets = sorted(
        (float(name.split('le="')[1].rstrip('"}')), _delta(run, name))
        for name in run.stop.metrics
        if name.startswith(f"{PASS_METRIC}_bucket{{")
    )
    slowest = next((le for le, n in buckets if count and n >= count), None)
    return {
        "passes": int(count),
        "mean_seconds": round(total / count, 4) if count else None,
        "slowest_at_most_seconds": slowest,
        "buckets_le_seconds": {str(le): int(n) for le, n in buckets},
    }


def _server_report(run: Run, fans_at_start: int, seconds: float) -> dict[str, Any]:
    grown = run.start.rss_kib - run.before.rss_kib
    cpu = run.stop.cpu_seconds - run.start.cpu_seconds
    return {
        "processes": len(run.start.pids),
        "rss_before_mib": round(run.before.rss_kib / 1024, 1),
        "rss_connected_mib": round(run.start.rss_kib / 1024, 1),
        "rss_after_window_mib": round(run.stop.rss_kib / 1024, 1),
        "kib_per_fan": round(grown / fans_at_start, 2)
        if fans_at_start and run.start.pids
        else None,
        "cpu_seconds_window": round(cpu, 2),
        "cpu_cores_busy": round(cpu / seconds, 2),
        "ws_connections_gauge_at_start": run.start.metrics.get("onsale_ws_connections"),
        "pushed_per_second": round(_delta(run, "onsale_ws_messages_pushed_total") / seconds, 1),
        "dropped": int(_delta(run, "onsale_ws_messages_dropped_total")),
        "slow_disconnects": int(_delta(run, "onsale_ws_slow_disconnects_total")),
        "admitted_metric": int(_delta(run, "onsale_queue_admitted_total")),
    }


def _lag_report(lag: Counter[int]) -> dict[str, Any]:
    return {
        "samples": sum(lag.values()),
        "p50": _percentile(lag, 0.50),
        "p90": _percentile(lag, 0.90),
        "p99": _percentile(lag, 0.99),
        "max": max(lag) if lag else None,
    }


def _merge_ticks(reports: list[dict[str, Any]]) -> dict[int, list[int]]:
    merged: dict[int, list[int]] = {}
    for r in reports:
        for ts, (first, last, count) in r.get("ticks", {}).items():
            tick = merged.setdefault(ts, [first, last, 0])
            tick[0], tick[1], tick[2] = min(tick[0], first), max(tick[1], last), tick[2] + count
    return merged


def _ticks_report(ticks: dict[int, list[int]]) -> dict[str, Any]:
    """Per push tick seen in the window: how long until its first message
    arrived, how long its messages took to all arrive, and the time between
    ticks (the push period the fans get)."""
    stamps = sorted(ticks)
    first = Counter(ticks[ts][0] - ts for ts in stamps)
    spread = Counter(ticks[ts][1] - ticks[ts][0] for ts in stamps)
    period = Counter(b - a for a, b in itertools.pairwise(stamps))
    return {
        "ticks": len(stamps),
        "first_arrival_ms_p50": _percentile(first, 0.5),
        "first_arrival_ms_max": max(first) if first else None,
        "arrival_spread_ms_p50": _percentile(spread, 0.5),
        "arrival_spread_ms_max": max(spread) if spread else None,
        "period_ms_p50": _percentile(period, 0.5),
        "period_ms_max": max(period) if period else None,
        "messages_per_tick_p50": _percentile(Counter(ticks[ts][2] for ts in stamps), 0.5),
    }


def _report(args: argparse.Namespace, url: str, run: Run) -> dict[str, Any]:
    done, seconds = run.done, args.seconds
    fans_at_start = int(_sum(done, "open_at_start"))
    status = _sum(done, "status")
    return {
        "command": shlex.join([sys.executable, *sys.argv]),
        "url": url,
        "fans": args.fans,
        "workers": args.workers if args.url is None else None,
        "rate_per_minute": args.rate,
        "seconds": seconds,
        "settle_seconds": args.settle,
        "push_interval_seconds": float(os.environ.get("ONSALE_PUSH_INTERVAL_SECONDS") or 1.0),
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in run.load_before],
            "loadavg_after": [round(x, 2) for x in run.load_after],
        },
        "ramp": {
            "seconds": round(run.ramp_seconds, 1),
            "clients_ready": len(run.ready),
            "connected": int(_sum(run.ready, "connected")),
            "failures": dict(_counters(run.ready, "failures").most_common(10)),
        },
        "fans_connected_at_start": fans_at_start,
        "server": _server_report(run, fans_at_start, seconds),
        "push_pass": _pass_report(run),
        "delivery_lag_ms": _lag_report(_counters(done, "lag_ms")),
        "push_ticks": _ticks_report(_merge_ticks(done)),
        "messages": {
            "status_per_second": round(status / seconds, 1),
            "status_per_fan_per_second": round(status / seconds / fans_at_start, 3)
            if fans_at_start
            else None,
            "status_without_ts": int(_sum(done, "untimed")),
            "admitted_per_second": round(_sum(done, "admitted") / seconds, 2),
            "admitted_all_run": int(_sum(done, "admitted_all_run")),
            "closed_all_run": int(_sum(done, "closed_all_run")),
            "closed_by_server_without_last_message": int(_sum(done, "lost_final_all_run")),
            "server_close_codes": dict(_counters(done, "server_closes")),
        },
        "client": {
            "processes": len(done),
            "cpu_seconds_window": round(_sum(done, "cpu_window"), 2),
            "cpu_seconds_all_run": round(_sum(done, "cpu_all_run"), 2),
            "errors": [d["error"] for d in done if "error" in d],
        },
        "event_closed_after": run.event_closed,
    }


# ---------------------------------------------------------------- main


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


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    _raise_nofile()  # before spawning: the server and the clients inherit it
    proc = None
    url, token = args.url, args.admin_token
    if url is None:
        token = secrets.token_urlsafe(16)
        proc, url = _start_server(args.workers, token)
        args.server_pid = proc.pid
    try:
        run = _run(args, url, token)
    finally:
        if proc:
            _stop_server(proc)
    print(json.dumps(_report(args, url, run), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
