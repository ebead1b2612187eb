"""The sell-out under chaos: faults while Locust fans buy, then the verdict.

    python loadtests/chaos.py                          # ~1 min (make chaos)
    python loadtests/chaos.py --fans 200 --seconds 180 --workers 3

Starts its OWN Redis (no persistence) and Postgres under a temporary folder on
free loopback ports, from the machine's binaries (onsale's embedded launcher),
then ``--workers`` `onsale serve` processes behind a round-robin loopback
proxy, creates a seated + GA event and runs the Locust sell-out suites with
persistent fans (they retry a 503 or a broken connection, and reconnect their
websocket with the same queue token). On a printed timeline it:

1. SIGKILLs one app process and starts it again ~2 s later;
2. restarts Redis with its data lost (SIGKILL, new empty server, same port);
3. stops Postgres (``pg_ctl stop -m fast``) for 10 s, then starts it;
4. stalls Redis for ~3 s (SIGSTOP, then SIGCONT).

Then it lets the reconciler settle and checks: `onsale verify --event` (no seat
in two live tickets, no section over capacity, no payment without its order or
the reverse), every 201 checkout's order is there and paid with the seats the
fan was told, no seat in two paid orders, no 500 answer, no place lost (a fan
told a position is never told a larger one for the same queue token, and never
refused its token), no intruder let in (the Locust Intruder opens sockets with
no, empty, garbage or forged queue tokens through the faults: each must be
closed with 4401 or fail with the outage, never sent a status). The report
says, per fault, when it happened and what it did; how many fans saw an error,
of which kind; how many seconds the sale was degraded; hold and checkout p99
before, during and after; orders paid, seats sold of capacity; the intruder's
knocks, by outcome. Exit 1 on any violation. It never touches the machine's
shared Redis or Postgres, and always stops what it started (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import launch
from chaos_backends import App, Backends, Proxy
from chaos_faults import FAULTS_SECONDS, FIRST_FAULT, Timeline
from chaos_report import (
    degraded,
    fans_with_errors,
    latency_by_phase,
    per_fault,
    violations,
)
from run_sellout import (
    _counts,
    create_event,
    finish_locust,
    intruders,
    read_record,
    sellout_event,
    start_locust,
    verify,
)
from scenario import free_port, server_longest_stall, stall_problems

OPENS_IN = 3.0  # seconds from the event's creation to the sale's opening
TAIL = 6.0  # load after the last fault: the "after" phase
SETTLE_SECONDS = 2  # ONSALE_RECONCILE_SETTLE_SECONDS for the apps


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fans", type=int, default=60, help="concurrent Locust users")
    parser.add_argument("--seconds", type=int, default=60, help="load time (at least ~45)")
    parser.add_argument("--workers", type=int, default=2, help="onsale serve processes (>= 2)")
    parser.add_argument("--ga", type=int, default=300, help="general-admission places")
    parser.add_argument("--rows", type=int, default=10, help="seated rows of 10")
    parser.add_argument("--rate", type=int, default=240, help="admissions per minute")
    parser.add_argument("--report", type=Path, help="also write the JSON report here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--allow-lost-places",
        action="store_true",
        help="report a lost place or refused queue token without failing the run",
    )
    parser.add_argument(
        "--stall-bound",
        type=float,
        default=0.0,
        help="fail on a queue stall longer than this many seconds (0, the default: "
        "report only; a Redis outage stalls admission by design)",
    )
    return parser


class Clock:
    def __init__(self) -> None:
        self.origin = time.time()

    def say(self, message: str) -> None:
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        print(f"[{now - self.origin:+7.1f} s  {stamp}] {message}", flush=True)


def _get(url: str, headers: dict[str, str], timeout: float = 30) -> dict[str, Any]:
    """GET with retries while the service recovers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = httpx.get(url, headers=headers, timeout=10)
            if r.status_code == 200:
                body: dict[str, Any] = r.json()
                return body
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"GET {url} kept failing")
        time.sleep(0.5)


# What an app logs for an exception nobody handled: the HTTP edge answers 500,
# uvicorn closes a websocket with 1011. Both are bugs (API.md).
UNHANDLED = ("unhandled error", "Exception in ASGI application")


def _app_errors(apps: list[App]) -> tuple[list[str], list[str]]:
    """(every ERROR line the apps logged, the unhandled exceptions among
    them), one line each: app, time, logger, path, the exception's last line."""
    errors: list[str] = []
    unhandled: list[str] = []
    for i, app in enumerate(apps, 1):
        for line in app.log(tail=10_000_000).splitlines():
            if '"ERROR"' not in line and '"CRITICAL"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                errors.append(f"app-{i}: {line[:300]}")
                continue
            last = [x for x in str(entry.get("exception", "")).splitlines() if x[:1].isalpha()]
            message = str(entry.get("message", "")).strip()
            summary = (
                f"app-{i} {entry.get('time')} {entry.get('logger')} {entry.get('path', '')}: "
                f"{message}: {last[-1][:200] if last else ''}"
            )
            errors.append(summary)
            if message in UNHANDLED:
                unhandled.append(summary)
    return errors, unhandled


class Stack:
    """Everything the run starts, stopped in reverse order whatever happens."""

    def __init__(self, work: Path, say: Any) -> None:
        self.work, self.say = work, say
        self.backends: Backends | None = None
        self.apps: list[App] = []
        self.proxy: Proxy | None = None
        self.locust: subprocess.Popen[bytes] | None = None
        self.timeline: Timeline | None = None
        self.admin_token = secrets.token_urlsafe(16)
        self.env: dict[str, str] = {}

    def start(self, workers: int) -> None:
        self.backends = b = Backends(self.work / "backends")
        self.say(f"own Redis on :{b.redis_port}, own Postgres at {b.database_url}")
        # None of the machine's ONSALE_ settings: the run's own backends only.
        # launch.onsale_env adds one secret key for all app processes, no
        # per-address join limit (every fan comes from 127.0.0.1), warnings only.
        self.env = launch.onsale_env(
            self.admin_token,
            base={k: v for k, v in os.environ.items() if not k.startswith("ONSALE_")},
            ONSALE_REDIS_URL=b.redis_url,
            ONSALE_DATABASE_URL=b.database_url,
            ONSALE_RECONCILE_SETTLE_SECONDS=str(SETTLE_SECONDS),
            ONSALE_RECONCILE_INTERVAL_SECONDS="1",
        )
        for i in range(max(workers, 2)):
            app = App(free_port(), self.work / f"app-{i + 1}", self.env)
            app.start()  # one at a time: each runs the migrations first
            self.apps.append(app)
            assert app.proc
            self.say(f"app-{i + 1}: onsale serve on :{app.port}, pid {app.proc.pid}")
        self.proxy = Proxy([a.port for a in self.apps])
        self.proxy.start()
        self.say(f"round-robin proxy on {self.proxy.url}")

    def stop(self) -> None:
        if self.timeline is not None:
            self.timeline.stop.set()
            self.timeline.thread.join(60)
        if self.locust is not None and self.locust.poll() is None:
            self.locust.kill()
            self.locust.wait()
        if self.proxy is not None:
            self.proxy.stop()
        for app in self.apps:
            app.stop()
        if self.backends is not None:
            self.backends.stop()


@dataclass(frozen=True)
class Sale:
    event_id: str
    venue_key: str
    opens_at: float  # epoch seconds


def _load(stack: Stack, args: argparse.Namespace, sale: Sale) -> dict[str, Any]:
    """Locust with persistent fans while the timeline breaks things; when the
    load started and ended, and Locust's exit code."""
    assert stack.proxy and stack.backends
    # The faults spread over the load, at least 3 s apart; Locust's own time
    # limit is only a bound: the load ends TAIL seconds after the last fault.
    gap = max(3.0, (args.seconds - OPENS_IN - FIRST_FAULT - FAULTS_SECONDS - TAIL) / 3)
    seconds = max(args.seconds, int(OPENS_IN + FIRST_FAULT + FAULTS_SECONDS + 3 * gap)) + 60
    lt_env = {
        **stack.env,
        "ONSALE_LT_EVENT": sale.event_id,
        "ONSALE_LT_VENUE_KEY": sale.venue_key,
        "ONSALE_LT_RECORD": str(stack.work / "record"),
        "ONSALE_LT_PERSIST": "1",
        "ONSALE_LT_REQUESTS": "1",
    }
    stats_url = f"{stack.proxy.url}/api/admin/events/{sale.event_id}/stats"

    def sold_out() -> bool:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            stats = httpx.get(stats_url, headers=_auth(sale.venue_key), timeout=5).json()
            return bool(stats["sold"] >= stats["capacity"])
        return False

    timeline = Timeline(stack.backends, stack.apps, sale.opens_at, gap, stack.say)
    stop_at: list[float] = []

    def over() -> bool:
        """Sold out, or TAIL seconds after the last fault (and ``--seconds``)."""
        last = timeline.faults[-1].until if timeline.faults else 0.0
        if sold_out() or (
            not timeline.thread.is_alive()
            and time.time() >= max(last + TAIL, started + args.seconds)
        ):
            stop_at.append(time.time())
            return True
        return False

    stack.say(f"Locust: {args.fans} users, until {TAIL:.0f} s after the last fault")
    started = time.time()
    stack.locust = start_locust(
        stack.proxy.url, lt_env, args.fans, seconds, stack.work / "stats", stop_timeout=3
    )
    stack.timeline = timeline
    timeline.thread.start()
    locust_rc = finish_locust(stack.locust, seconds, over)
    ended = time.time()
    stack.say(f"load over (Locust exit code {locust_rc})")
    timeline.stop.set()
    timeline.thread.join(60)
    # Fans still queued when Locust stops them are not a stalled sale.
    return {"end": min([ended, *stop_at]), "locust_exit_code": locust_rc}


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _verdict(
    stack: Stack, args: argparse.Namespace, sale: Sale, load: dict[str, Any]
) -> dict[str, Any]:
    """After the reconciler settled: `onsale verify`, the record's checks and
    the figures of the report."""
    assert stack.proxy and stack.timeline
    stack.say(f"waiting for the reconciler to settle ({SETTLE_SECONDS} s + 2 rounds)")
    time.sleep(SETTLE_SECONDS + 3)
    base = f"{stack.proxy.url}/api/admin/events/{sale.event_id}"
    stats = _get(f"{base}/stats", _auth(sale.venue_key))
    orders = {o["order_id"]: o for o in _get(f"{base}/orders", _auth(sale.venue_key))["orders"]}
    record = read_record(stack.work / "record")
    problems, tolerated = violations(record, orders, allow_lost_places=args.allow_lost_places)
    checked = verify(stack.env, sale.event_id)
    problems += checked.get("violations", [])
    errors, unhandled = _app_errors(stack.apps)
    problems += [f"unhandled exception (a 500 or a 1011 close): {u}" for u in unhandled]
    if stack.timeline.failure is not None:
        problems.append(f"a fault step failed: {stack.timeline.failure!r}")
    token = stack.env.get("ONSALE_METRICS_TOKEN", "")
    longest = server_longest_stall(stack.proxy.url, sale.event_id, token)
    problems += stall_problems(longest, args.stall_bound)
    faults = stack.timeline.faults
    return {
        "ok": not problems,
        "event_id": sale.event_id,
        "faults": [
            {**f.as_json(sale.opens_at), **effects}
            for f, effects in zip(
                faults, per_fault(record, faults, sale.opens_at, load["end"]), strict=True
            )
        ],
        "errors": fans_with_errors(record),
        "degraded": degraded(record, sale.opens_at, load["end"]),
        "longest_stall_seconds": longest,
        "latency": latency_by_phase(record, faults),
        "orders_paid": sum(1 for o in orders.values() if o.get("status") == "paid"),
        "sold": stats["sold"],
        "capacity": stats["capacity"],
        "fans_told": _counts([line for line in record if line["kind"] != "request"]),
        "intruders": intruders(record),
        "violations": problems,
        "tolerated": tolerated,
        "verify": checked,
        "proxy": {
            "connects_refused": stack.proxy.refused,
            "clients_unserved": stack.proxy.unserved,
            "connect_errors": dict(stack.proxy.errors),
        },
        "app_errors": errors[:30],
        "locust_exit_code": load["locust_exit_code"],
        "work": str(stack.work) if args.keep else None,
    }


def run(args: argparse.Namespace, work: Path, clock: Clock) -> int:
    stack = Stack(work, clock.say)
    try:
        stack.start(args.workers)
        assert stack.proxy
        opens_at = time.time() + OPENS_IN
        body = sellout_event(
            ga=args.ga, rows=args.rows, opens_in=OPENS_IN, rate=args.rate, max_active=10_000
        )
        event_id, venue_key = create_event(stack.proxy.url, stack.admin_token, body)
        clock.say(f"event {event_id}: {args.ga + args.rows * 10} places, opens in {OPENS_IN:.0f} s")
        sale = Sale(event_id, venue_key, opens_at)
        report = _verdict(stack, args, sale, _load(stack, args, sale))
    finally:
        stack.stop()
    return emit(report, args.report)


def emit(report: dict[str, Any], path: Path | None) -> int:
    """Print the report and its verdict (and write it to ``path``); the exit code."""
    text = json.dumps(report, indent=2)
    print(text)
    if path:
        path.write_text(text)
    print("VERDICT:", "PASS" if report["ok"] else "FAIL", flush=True)
    return 0 if report["ok"] else 1


def run_in_scratch(
    args: argparse.Namespace, run: Callable[[argparse.Namespace, Path, Clock], int], prefix: str
) -> int:
    """``run(args, work, clock)`` in a scratch folder (kept with ``--keep``).
    SIGTERM unwinds like Ctrl-C, so that everything started is stopped; and
    Ctrl-C does even when started in the background (which ignores SIGINT)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    clock = Clock()
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return run(args, work, clock)
    except KeyboardInterrupt:
        clock.say("interrupted: what the run started is stopped")
        return 130
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            clock.say(f"kept {work}")


def main() -> int:
    return run_in_scratch(_parser().parse_args(), run, "onsale-chaos-")


if __name__ == "__main__":
    raise SystemExit(main())
