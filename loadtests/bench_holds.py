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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import re
import resource
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

from scenario import event_body, free_port, iso, serve_command

LOADTESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(LOADTESTS))

from bare import lua_app, pg_app  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/5"
REDIS_PREFIX = "benchholds"
BARE_PREFIX = f"{REDIS_PREFIX}:bare"
PG_ROOT = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "onsale_benchholds"
PG_DSN = f"{PG_ROOT}/{PG_DB}"
HOLD_BODY = '{"section":"FLOOR","quantity":1}'
CAPACITY = 100_000
PG_CAPACITY = 10_000_000
UVICORN_OPTS = ["--http", "httptools", "--loop", "uvloop", "--log-level", "warning"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- processes


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A server in its own process group (so its workers stop with it), its
    output in ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT
        )


def _log_errors(log: Path) -> dict[str, Any]:
    """How many tracebacks the server logged, counted by exception."""
    lines = log.read_text(errors="replace").splitlines()[:200_000]
    pattern = re.compile(r"^([\w.]+(?:Error|Exception|Disconnect))\b")
    kinds = Counter(m.group(1) for line in lines if (m := pattern.match(line)))
    return {
        "tracebacks": sum(line.startswith("Traceback") for line in lines),
        "by_kind": dict(kinds),
    }


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it after 20 s."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    _reap_group(proc.pid)


def _reap_group(pgid: int) -> None:
    """Workers left in the group after its leader exited: wait 10 s, then kill."""
    for _ in range(50):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def _wait_ready(
    url: str, probe: Callable[[httpx.Client], int], proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=url, timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}")
            try:
                if probe(client) < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
    raise RuntimeError("the server did not become ready within 60 s")


@contextlib.contextmanager
def _server(
    argv: list[str], env: dict[str, str], url: str, probe: Callable[[httpx.Client], int], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    proc = _start(argv, env, log)
    try:
        _wait_ready(url, probe, proc)
        yield proc
    finally:
        _stop(proc)


# ---------------------------------------------------------------- CPU figures


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces: the fields after it start past the last ")"
    return [raw[raw.index("(") + 1 : raw.rindex(")")], *raw[raw.rindex(")") + 2 :].split()]


def _all_stats() -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields:
                out[int(entry)] = fields
    return out


def _cpu(fields: list[str]) -> float:
    # fields[0] is comm, then state (1), ppid (2)... utime is field 14 of stat: index 12 here
    return (int(fields[12]) + int(fields[13])) / CLK_TCK


def _tree(stats: dict[int, list[str]], root: int) -> set[int]:
    pids = {root}
    for _ in range(5):  # supervisor -> workers (-> their children)
        more = {p for p, f in stats.items() if int(f[2]) in pids} - pids
        if not more:
            break
        pids |= more
    return pids


@dataclass
class CpuSnapshot:
    at: float
    machine_busy: float
    server: float
    redis: float
    postgres: float
    children: float
    load: tuple[float, float, float]
    evalsha: tuple[int, int]  # Redis commandstats: calls, usec (all clients of db server)


def _machine_busy() -> float:
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return (sum(parts[:8]) - idle) / CLK_TCK


def _evalsha_stats() -> tuple[int, int]:
    """EVALSHA calls and microseconds spent in them, as Redis counts them."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        stats = client.info("commandstats").get("cmdstat_evalsha", {})
    finally:
        client.close()
    return int(stats.get("calls", 0)), int(stats.get("usec", 0))


def _snapshot(server_pid: int) -> CpuSnapshot:
    stats = _all_stats()
    tree = _tree(stats, server_pid)
    by_name: dict[str, float] = {}
    for fields in stats.values():
        by_name[fields[0]] = by_name.get(fields[0], 0.0) + _cpu(fields)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSnapshot(
        at=time.monotonic(),
        machine_busy=_machine_busy(),
        server=sum(_cpu(stats[p]) for p in tree if p in stats),
        redis=by_name.get("redis-server", 0.0),
        postgres=by_name.get("postgres", 0.0),
        children=kids.ru_utime + kids.ru_stime,
        load=os.getloadavg(),
        evalsha=_evalsha_stats(),
    )


def _cpu_report(a: CpuSnapshot, b: CpuSnapshot, requests: int) -> dict[str, Any]:
    wall = b.at - a.at
    server, client = b.server - a.server, b.children - a.children
    redis_cpu, pg_cpu = b.redis - a.redis, b.postgres - a.postgres
    busy = b.machine_busy - a.machine_busy
    foreign = max(busy - server - client - redis_cpu - pg_cpu, 0.0)
    calls, usec = b.evalsha[0] - a.evalsha[0], b.evalsha[1] - a.evalsha[1]
    return {
        "wall_seconds": round(wall, 2),
        "server_cpu_seconds": round(server, 2),
        "server_cpu_us_per_hold": round(server / requests * 1e6, 1) if requests else None,
        "client_cpu_seconds": round(client, 2),
        "redis_cpu_seconds": round(redis_cpu, 2),
        "redis_cpu_us_per_hold": round(redis_cpu / requests * 1e6, 1) if requests else None,
        # time inside the Lua script (any client's EVALSHA; ours dominate)
        "redis_evalsha_calls": calls,
        "redis_evalsha_us_per_call": round(usec / calls, 1) if calls else None,
        "postgres_cpu_seconds": round(pg_cpu, 2),
        "machine_busy_cores": round(busy / wall, 2) if wall else None,
        "foreign_cores": round(foreign / wall, 2) if wall else None,
        "load_before": [round(x, 2) for x in a.load],
        "load_after": [round(x, 2) for x in b.load],
    }


# ---------------------------------------------------------------- wrk

WRK_LUA = """-- generated by loadtests/bench_holds.py
local tokens = {%(tokens)s}
local path = "%(path)s"
local body = '%(body)s'
local nthreads = %(threads)d
local created = 0
function setup(thread)
  thread:set("tid", created)
  created = created + 1
end
local reqs, n, i = {}, 0, 0
function init(args)
  for k = 1, #tokens do
    if (k - 1) %% nthreads == tid then
      n = n + 1
      reqs[n] = wrk.format("POST", path, {["Authorization"] = "Bearer " .. tokens[k],
        ["Content-Type"] = "application/json"}, body)
    end
  end
end
function request()
  i = i %% n + 1
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d},' ..
    '"latency_us":{"mean":%%.1f,"max":%%d,"p50":%%d,"p90":%%d,"p99":%%d,"p999":%%d}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency.mean, latency.max, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
"""


def _wrk_script(directory: Path, name: str, path: str, tokens: list[str], threads: int) -> Path:
    if any(not re.fullmatch(r"[A-Za-z0-9_.:=+/-]+", t) for t in tokens):
        raise ValueError("a token has characters the generated Lua cannot quote")
    script = directory / f"{name}.lua"
    script.write_text(
        WRK_LUA
        % {
            "tokens": ",".join(f'"{t}"' for t in tokens),
            "path": path,
            "body": HOLD_BODY,
            "threads": threads,
        }
    )
    return script


@dataclass(frozen=True)
class Load:
    connections: int
    threads: int
    seconds: float
    warmup: float


def _wrk_argv(url: str, script: Path, load: Load, seconds: float) -> list[str]:
    return [
        "wrk",
        "-t",
        str(load.threads),
        "-c",
        str(load.connections),
        "-d",
        f"{max(int(seconds), 1)}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]


def _run_wrk(argv: list[str], seconds: float) -> dict[str, Any]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCHJSON "):
            result: dict[str, Any] = json.loads(line.removeprefix("BENCHJSON "))
            return result
    raise RuntimeError(f"wrk gave no figures (rc {proc.returncode}): {proc.stderr[-500:]}")


def _figures(wrk: dict[str, Any]) -> dict[str, Any]:
    seconds = wrk["duration_us"] / 1e6
    errors = sum(wrk["errors"].values())
    lat = wrk["latency_us"]
    return {
        "requests": wrk["requests"],
        "errors": errors,
        "holds_per_second": round((wrk["requests"] - wrk["errors"]["status"]) / seconds, 1),
        "requests_per_second": round(wrk["requests"] / seconds, 1),
        "p50_ms": round(lat["p50"] / 1000, 2),
        "p90_ms": round(lat["p90"] / 1000, 2),
        "p99_ms": round(lat["p99"] / 1000, 2),
        "p999_ms": round(lat["p999"] / 1000, 2),
        "max_ms": round(lat["max"] / 1000, 2),
        "mean_ms": round(lat["mean"] / 1000, 2),
        "wrk_errors": wrk["errors"],
    }


# ---------------------------------------------------------------- targets


@dataclass
class Target:
    name: str
    argv: list[str]
    env: dict[str, str]
    url: str
    probe: Callable[[httpx.Client], int]
    setup: Callable[[str], tuple[str, list[str]]]  # url -> (hold path, tokens)
    # before and after each measured run (reset a table...): notes for the report
    before_run: Callable[[], dict[str, Any]] = dict
    after_run: Callable[[], dict[str, Any]] = dict
    notes: dict[str, Any] = field(default_factory=dict)


def _uvicorn_argv(app: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        *UVICORN_OPTS,
    ]


def _onsale_env(admin_token: str) -> dict[str, str]:
    return {
        **os.environ,
        "ONSALE_REDIS_URL": REDIS_URL,
        "ONSALE_REDIS_PREFIX": REDIS_PREFIX,
        "ONSALE_DATABASE_URL": PG_DSN,
        "ONSALE_JOIN_RATE_PER_MINUTE": "0",
        "ONSALE_ADMIN_TOKEN": admin_token,
        "ONSALE_SECRET_KEY": secrets.token_urlsafe(32),
        "ONSALE_LOG_LEVEL": "WARNING",
    }


def _event_body(shoppers: int) -> dict[str, Any]:
    admission = {"rate_per_minute": 1_000_000, "max_active": shoppers + 10, "session_seconds": 3600}
    return event_body("Holds benchmark", admission=admission, ga=CAPACITY)


async def _admit_one(client: httpx.AsyncClient, event_id: str) -> str:
    r = await client.post(f"/api/events/{event_id}/queue")
    r.raise_for_status()
    headers = {"Authorization": f"Bearer {r.json()['queue_token']}"}
    for _ in range(300):  # 60 s at most
        s = (await client.get(f"/api/events/{event_id}/queue/status", headers=headers)).json()
        if s.get("state") == "admitted":
            return str(s["access_token"])
        await asyncio.sleep(0.2)
    raise RuntimeError("a shopper was not admitted within 60 s")


async def _onsale_setup(url: str, admin_token: str, shoppers: int) -> tuple[str, list[str]]:
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        venue = (
            await client.post(
                "/api/admin/venues",
                headers={"Authorization": f"Bearer {admin_token}"},
                json={"name": "Bench", "slug": f"bench-{secrets.token_hex(4)}", "timezone": "UTC"},
            )
        ).json()
        r = await client.post(
            "/api/admin/events",
            json=_event_body(shoppers),
            headers={"Authorization": f"Bearer {venue['api_key']}"},
        )
        r.raise_for_status()
        event_id = str(r.json()["id"])
        tokens = await asyncio.gather(*(_admit_one(client, event_id) for _ in range(shoppers)))
    return f"/api/events/{event_id}/holds", list(tokens)


def _onsale(workers: int, shoppers: int) -> Target:
    port, admin = free_port(), secrets.token_urlsafe(16)
    return Target(
        name="onsale",
        argv=serve_command(port, workers),
        env=_onsale_env(admin),
        url=f"http://127.0.0.1:{port}",
        probe=lambda c: c.get("/readyz").status_code,
        setup=lambda url: asyncio.run(_onsale_setup(url, admin, shoppers)),
    )


def _bare_probe(client: httpx.Client) -> int:
    r = client.post(
        "/api/events/bench/holds", content=HOLD_BODY, headers={"Authorization": "Bearer probe"}
    )
    return r.status_code


def _bare_tokens(shoppers: int) -> list[str]:
    return [f"shopper-{i}" for i in range(shoppers)]


def _bare(
    workers: int, shoppers: int, pad_calls: int = 0, wide: bool = False, plain_pool: bool = False
) -> Target:
    port = free_port()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.delete(*lua_app.keys(BARE_PREFIX))
        client.hset(lua_app.keys(BARE_PREFIX)[0], mapping={"cap": CAPACITY, "held": 0})
    finally:
        client.close()
    return Target(
        name="bare",
        argv=_uvicorn_argv("bare.lua_app:create_app", port, workers),
        env={
            **os.environ,
            "PYTHONPATH": str(LOADTESTS),
            "BARE_REDIS_URL": REDIS_URL,
            "BARE_KEY_PREFIX": BARE_PREFIX,
            "BARE_PAD_CALLS": str(pad_calls),
            "BARE_WIDE": "1" if wide else "",
            "BARE_PLAIN_POOL": "1" if plain_pool else "",
        },
        url=f"http://127.0.0.1:{port}",
        probe=_bare_probe,
        setup=lambda url: ("/api/events/bench/holds", _bare_tokens(shoppers)),
        notes={"pad_calls": pad_calls, "wide_call": wide, "plain_pool": plain_pool}
        if pad_calls or wide or plain_pool
        else {},
    )


def _pg_reset(preload: int, keep: bool) -> dict[str, Any]:
    """Before each pg run: the holds table back to ``preload`` rows (or kept
    growing from run to run with ``keep``); its size goes in the report."""
    if not keep:
        asyncio.run(pg_app.reset(PG_DSN, preload))
    return {"holds_table_rows_before": asyncio.run(pg_app.live_holds(PG_DSN))}


def _pg(workers: int, shoppers: int, lock: str, preload: int, keep: bool) -> Target:
    port = free_port()
    asyncio.run(pg_app.prepare(PG_DSN, PG_CAPACITY, preload))
    return Target(
        name="pg",
        argv=_uvicorn_argv("bare.pg_app:create_app", port, workers),
        env={
            **os.environ,
            "PYTHONPATH": str(LOADTESTS),
            "BARE_PG_DSN": PG_DSN,
            "BARE_PG_LOCK": lock,
            "BARE_PG_POOL": "20",
        },
        url=f"http://127.0.0.1:{port}",
        probe=_bare_probe,
        setup=lambda url: ("/api/events/bench/holds", _bare_tokens(shoppers)),
        before_run=lambda: _pg_reset(preload, keep),
        after_run=lambda: {"holds_table_rows_after": asyncio.run(pg_app.live_holds(PG_DSN))},
        notes={"lock": lock, "preload": preload, "table_kept_between_runs": keep},
    )


# ---------------------------------------------------------------- measuring


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
    wrk = _run_wrk(argv, seconds)
    after = _snapshot(pid)
    figures = _figures(wrk)
    return {**figures, **_cpu_report(before, after, wrk["requests"])}


def _busy_cores(seconds: float = 1.0) -> float:
    """Cores the machine kept busy over the next ``seconds`` (our servers idle)."""
    a, t = _machine_busy(), time.monotonic()
    time.sleep(seconds)
    return (_machine_busy() - a) / (time.monotonic() - t)


def _wait_quiet(threshold: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) until other work takes at most ``threshold``
    cores; return the last figure seen."""
    deadline = time.monotonic() + max_wait
    busy = _busy_cores()
    while busy > threshold and time.monotonic() < deadline:
        _log(f"  machine busy ({busy:.2f} cores, load {os.getloadavg()[0]:.2f}): waiting")
        time.sleep(4.0)
        busy = _busy_cores()
    return busy


@dataclass
class Live:
    """A started target, ready to be loaded."""

    target: Target
    proc: subprocess.Popen[bytes]
    script: Path
    log: Path


def _measure(live: Live, opts: Options) -> dict[str, Any]:
    """Warm up, then measure; again (at most ``retries`` times) while other work
    took more than ``busy_cores`` of the machine. Keeps the quietest run."""
    target, load = live.target, opts.load
    notes = target.before_run()
    if load.warmup > 0:
        _run_wrk(_wrk_argv(target.url, live.script, load, load.warmup), load.warmup)
    argv = _wrk_argv(target.url, live.script, load, load.seconds)
    runs: list[dict[str, Any]] = []
    for _ in range(opts.retries + 1):
        quiet = _wait_quiet(opts.busy_cores, opts.quiet_wait)
        runs.append(_measure_once(target, live.proc.pid, argv, load.seconds))
        runs[-1]["busy_cores_before"] = round(quiet, 2)
        _log(
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


def _profile(live: Live, opts: Options, workers: int) -> dict[str, Any]:
    target, pid, script = live.target, live.proc.pid, live.script
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
        wrk = _run_wrk(_wrk_argv(target.url, script, opts.load, seconds), seconds)
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


def _launch(
    stack: contextlib.ExitStack, target: Target, workers: int, threads: int, tmp: Path
) -> Live:
    _log(f"[workers={workers}] {target.name}: starting {shlex.join(target.argv[1:])}")
    log = tmp / f"{target.name}-w{workers}.log"
    proc = stack.enter_context(_server(target.argv, target.env, target.url, target.probe, log))
    path, tokens = target.setup(target.url)
    script = _wrk_script(tmp, f"{target.name}-w{workers}", path, tokens, threads)
    return Live(target, proc, script, log)


# ---------------------------------------------------------------- profile summary

# Where one sample's CPU goes: the first rule that matches wins, so the shares
# add up to 100%. "any" rules match a frame anywhere in the stack (the step of
# the hold handler it is under); "leaf" rules match the innermost frame only
# (the framework code that was running itself).
CATEGORIES: list[tuple[str, str, str]] = [
    ("background tasks (admission ticker, reconciler)", "any", r"^Runtime\._every "),
    (
        "token verification (tokens.verify, access_claims)",
        "any",
        r"\(onsale/tokens\.py|^(access_claims|claims_of) ",
    ),
    ("event cache lookup (EventService.get)", "any", r"^EventService\.get "),
    (
        "read_json / receive_json (body + json.loads + _check_json)",
        "any",
        r"^(read_json|receive_json) \(onsale/http",
    ),
    ("sale window check (Event.status + datetime.now)", "any", r"^Event\.status "),
    ("parse_hold", "any", r"^parse_hold "),
    ("new_hold_id (secrets.token_hex)", "any", r"^new_hold_id "),
    (
        "Redis call (onsale's script lane or redis-py: pool, pack, send, hiredis read)",
        "any",
        r"\(redis/|^(Lane\.\w+|_pack) \(onsale/redis",
    ),
    (
        "store.hold wrapper (event_keys, json.dumps, Scripts.call, _ok)",
        "any",
        r"^(InventoryStore\.(hold|_run|keys)|event_keys|Scripts\.call|_ok) ",
    ),
    ("Hold.from_record (json.loads of the reply)", "any", r"^Hold\.from_record "),
    ("hold_json (dict + datetime isoformat)", "any", r"^hold_json "),
    (
        "JSON response (render, headers, send through middlewares + uvicorn)",
        "any",
        r"^(JSON\.render|render_json|JSONResponse\.__init__|Response\.__(init|call)__) ",
    ),
    (
        "create_hold / InventoryService.hold, other",
        "any",
        r"^(create_hold|create_hold_hot|_hold|InventoryService\.hold) ",
    ),
    (
        "onsale middleware and http.py (own frames)",
        "leaf",
        r"\(onsale/(http|monitoring/middleware)\.py",
    ),
    ("starlette request/routing/middleware (own frames)", "leaf", r"\(starlette/"),
    ("uvicorn protocol (HTTP parsing, run_asgi, own frames)", "leaf", r"\(uvicorn/"),
    (
        "event loop (asyncio/uvloop, own frames)",
        "leaf",
        r"\(asyncio/|^Runner\.run |^asyncio_run |uvloop",
    ),
]


def _frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rpartition(" ")
    return [_relative(f) for f in stack.split(";")], int(count)


def _relative(frame: str) -> str:
    """``f (/x/site-packages/redis/client.py:3)`` -> ``f (redis/client.py:3)``."""
    for root in (r"site-packages", r"src", r"python3\.\d+"):
        short = re.sub(rf"\(/[^()]*/{root}/", "(", frame, count=1)
        if short != frame:
            return short
    return frame


def _short(frame: str) -> str:
    return re.sub(r":\d+\)$", ")", frame)


def _category(frames: list[str]) -> str:
    for name, where, pattern in CATEGORIES:
        looked_at = frames if where == "any" else frames[-1:]
        if any(re.search(pattern, f) for f in looked_at):
            return name
    return "other"


def summarize(path: Path, requests: int, rate: int) -> dict[str, Any]:
    """Self and cumulative costs of a ``py-spy record -f raw`` file, as CPU
    microseconds per request (samples / rate / requests) and % of samples."""
    self_cost, cumulative, cats = Counter[str](), Counter[str](), Counter[str]()
    total = 0
    for line in path.read_text().splitlines()[:1_000_000]:
        if not line.strip():
            continue
        frames, count = _frames(line)
        total += count
        self_cost[_short(frames[-1])] += count
        for name in {_short(f) for f in frames}:
            cumulative[name] += count
        cats[_category(frames)] += count

    def row(name: str, n: int) -> dict[str, Any]:
        us = n / rate / requests * 1e6 if requests else 0.0
        return {
            "frame": name,
            "pct": round(100 * n / total, 1) if total else 0,
            "us_per_request": round(us, 1),
        }

    return {
        "samples": total,
        "rate_hz": rate,
        "requests": requests,
        "sampled_cpu_us_per_request": round(total / rate / requests * 1e6, 1) if requests else 0,
        "categories": [row(c, n) for c, n in cats.most_common()],
        "top_self": [row(f, n) for f, n in self_cost.most_common(25)],
        "top_cumulative": [row(f, n) for f, n in cumulative.most_common(40)],
    }


# ---------------------------------------------------------------- backends


async def _fresh_database() -> None:
    """(Re)create the scratch database: no event of an earlier run survives."""
    conn = await asyncpg.connect(f"{PG_ROOT}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{PG_DB}"')
    finally:
        await conn.close()


def _clear_redis() -> int:
    """Delete every key of this benchmark (prefix ``benchholds:``) in db 5."""
    client = redis.Redis.from_url(REDIS_URL)
    deleted = 0
    try:
        batch: list[bytes] = []
        for i, key in enumerate(client.scan_iter(match=f"{REDIS_PREFIX}:*", count=1000)):
            if i >= 2_000_000:
                break
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(client.unlink(*batch))
    finally:
        client.close()
    return deleted


# ---------------------------------------------------------------- report


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _ratios(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def hps(name: str) -> float:
        return float(results.get(name, {}).get("holds_per_second") or 0)

    out: dict[str, Any] = {}
    if hps("onsale") and hps("bare"):
        out["onsale_over_bare"] = round(hps("onsale") / hps("bare"), 3)
        out["goal_70pct_of_ceiling_met"] = out["onsale_over_bare"] >= 0.70
    if hps("onsale") and hps("pg"):
        out["onsale_over_pg"] = round(hps("onsale") / hps("pg"), 1)
        out["goal_10x_pg_met"] = out["onsale_over_pg"] >= 10
    return out


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median throughput (its latencies and CPU go with it)."""
    ordered = sorted(runs, key=lambda r: float(r["holds_per_second"]))
    return ordered[(len(ordered) - 1) // 2]


ROUND_KEYS = (
    "holds_per_second",
    "p50_ms",
    "p99_ms",
    "server_cpu_us_per_hold",
    "foreign_cores",
    "load_before",
    "holds_table_rows_before",
    "holds_table_rows_after",
)


def _combine(rounds: list[dict[str, dict[str, Any]]], lives: list[Live]) -> dict[str, Any]:
    targets: dict[str, dict[str, Any]] = {}
    for live in lives:
        name = live.target.name
        runs = [r[name] for r in rounds]
        targets[name] = {
            **_median_run(runs),
            "rounds": [{k: r[k] for k in ROUND_KEYS if k in r} for r in runs],
            "server_command": shlex.join(live.target.argv),
            **live.target.notes,
            # wrk cuts connections mid-request when its time is up: a few
            # ClientDisconnect tracebacks per run are expected there, not failures.
            "server_log": _log_errors(live.log),
        }
    return {
        "targets": targets,
        "ratios": _ratios(targets),
        "ratios_by_round": [_ratios(r) for r in rounds],
    }


def _table(report: dict[str, Any]) -> str:
    head = (
        f"{'workers':>7} {'target':<7} {'holds/s':>8} {'rounds':<20} {'p50 ms':>7} "
        f"{'p99 ms':>8} {'err':>4} {'srv us/hold':>11} {'wrk cpu':>7} {'foreign':>7} "
        f"{'load1':>5}"
    )
    lines = [head, "-" * len(head)]
    for run in report["runs"]:
        for name, r in run["targets"].items():
            rounds = "/".join(f"{x['holds_per_second']:.0f}" for x in r["rounds"])
            lines.append(
                f"{run['workers']:>7} {name:<7} {r['holds_per_second']:>8.0f} {rounds:<20} "
                f"{r['p50_ms']:>7.2f} {r['p99_ms']:>8.2f} {r['errors']:>4} "
                f"{r['server_cpu_us_per_hold'] or 0:>11.0f} {r['client_cpu_seconds']:>7.1f} "
                f"{r['foreign_cores']:>7.2f} {r['load_before'][0]:>5.2f}"
            )
        ratios = ", ".join(f"{k}={v}" for k, v in run["ratios"].items())
        lines.append(f"{'':>7} median ratios: {ratios}")
    return "\n".join(lines)


def _make(name: str, workers: int, args: argparse.Namespace) -> Target:
    if name == "onsale":
        return _onsale(workers, args.shoppers)
    if name == "bare":
        return _bare(
            workers, args.shoppers, args.bare_pad_calls, args.bare_wide, args.bare_plain_pool
        )
    return _pg(workers, args.shoppers, args.pg_lock, args.pg_preload, args.pg_keep)


def _rounds(lives: list[Live], opts: Options, count: int) -> list[dict[str, dict[str, Any]]]:
    """``count`` rounds of every target one after the other, the order turned
    by one each round, so that all see the same (noisy) machine."""
    rounds = []
    for i in range(count):
        order = lives[i % len(lives) :] + lives[: i % len(lives)]
        _log(f"round {i + 1}/{count}: {', '.join(x.target.name for x in order)}")
        rounds.append({x.target.name: _measure(x, opts) for x in order})
    return rounds


def _src_fingerprint() -> dict[str, Any]:
    """Which onsale code the servers ran: others edit the tree while we measure."""
    src = LOADTESTS.parent / "src" / "onsale"
    files = sorted(src.rglob("*.py"))[:2000] + sorted(src.rglob("*.lua"))[:200]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.read_bytes())
    newest = max((f.stat().st_mtime for f in files), default=0.0)
    return {
        "sha256": digest.hexdigest()[:16],
        "newest_file_change": iso(datetime.fromtimestamp(newest, UTC)),
    }


def _run_workers(
    workers: int, args: argparse.Namespace, opts: Options, tmp: Path
) -> dict[str, Any]:
    fingerprint = _src_fingerprint()
    asyncio.run(_fresh_database())
    _clear_redis()
    targets = [_make(name, workers, args) for name in args.targets]
    with contextlib.ExitStack() as stack:
        lives = [_launch(stack, t, workers, opts.load.threads, tmp) for t in targets]
        rounds = _rounds(lives, opts, args.rounds)
        profiled = [x for x in lives if opts.profile and x.target.name in args.profile_targets]
        profiles = {x.target.name: _profile(x, opts, workers) for x in profiled}
    result = {"workers": workers, "onsale_src": fingerprint, **_combine(rounds, lives)}
    for name, profile in profiles.items():
        cpu = result["targets"][name].get("server_cpu_us_per_hold")
        result["targets"][name]["profile"] = _scaled(profile, cpu)
    return result


def _scaled(profile: dict[str, Any], cpu_us: float | None) -> dict[str, Any]:
    """Sampling inflates absolute costs (py-spy pauses the process): give each
    row its share of the server CPU per hold measured without the profiler."""
    if not cpu_us:
        return profile
    out = dict(profile, measured_server_cpu_us_per_hold=cpu_us)
    for key in ("categories", "top_self", "top_cumulative"):
        out[key] = [
            {**row, "measured_us_per_hold": round(row["pct"] * cpu_us / 100, 1)}
            for row in profile[key]
        ]
    return out


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
        _clear_redis()
    report["machine"]["load_at_end"] = list(os.getloadavg())
    report["median_foreign_cores"] = statistics.median(
        [r["foreign_cores"] or 0 for run in report["runs"] for r in run["targets"].values()] or [0]
    )
    _log(_table(report))
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
