"""A rolling deploy in the middle of a sell-out, then the verdict.

    python loadtests/rolling_deploy.py                # ~1.5 min (make rolling-deploy)
    python loadtests/rolling_deploy.py --fans 80 --ga 600
    python loadtests/rolling_deploy.py --signal KILL  # the negative control: must FAIL

Starts, under a temporary folder on free loopback ports: a three-master Redis
Cluster (the machine's ``redis-server``, ``redis-cli --cluster create``), a
Postgres (onsale's embedded launcher, the machine's binaries), ``--nodes``
`onsale serve` processes on the cluster, and a real HAProxy (Debian's
package) running deploy/haproxy/haproxy.cfg with only its site lines
rewritten (rolling_backends.py). It creates a seated + GA event and runs the
Locust sell-out suites through HAProxy with persistent fans (they retry a 503
or a broken connection, and reconnect their websocket with the same queue
token). Once the sale is open, each node in turn is sent SIGTERM (its drain:
/readyz 503, fans told to reconnect with 1012 in batches, checkouts in flight
finished), waited for, started again, and taken back by HAProxy's health
check before the next.

The verdict is the sell-out's (`onsale verify --event`, every 201 checkout's
order paid with the seats the fan was told, no seat in two paid orders, no
500, no place lost: no fan told a larger position for the same queue token,
no token refused, no intruder let in), plus the deploy's: every node exited 0
within its drain bound and said 503 on /readyz while draining, no websocket
closed without 1012 (rolling_report.py), at most ``--max-errors`` failed
requests per fan (the 1012 closes apart), and the sale never without progress
(an admission, a hold or a checkout) for more than ``--max-stall`` seconds
while places were left. Exit 1 on any violation. It never touches the
machine's shared Redis or Postgres and stops what it started (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from chaos import Clock, _app_errors, _auth, _get, emit, run_in_scratch
from chaos_backends import App, Backends
from chaos_report import fans_with_errors, violations
from rolling_backends import HAProxy, RedisCluster
from rolling_report import restart_problems, rolling_problems
from run_sellout import (
    _counts,
    create_event,
    finish_locust,
    read_record,
    sellout_event,
    start_locust,
    verify,
)
from scenario import free_port

OPENS_IN = 3.0  # seconds from the event's creation to the sale's opening
FIRST_RESTART = 4.0  # seconds after the opening
TAIL = 5.0  # load after the last node is back
SETTLE_SECONDS = 2  # ONSALE_RECONCILE_SETTLE_SECONDS for the nodes
# The nodes' drain: HAProxy takes a node out after 2 failed checks 1 s apart
# (deploy/haproxy/haproxy.cfg), so the wait is longer than 2 s.
DRAIN = {"seconds": 15.0, "wait": 2.5, "spread": 3.0}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fans", type=int, default=40, help="concurrent Locust users")
    parser.add_argument("--nodes", type=int, default=3, help="onsale serve processes (>= 2)")
    parser.add_argument("--ga", type=int, default=300, help="general-admission places")
    parser.add_argument("--rows", type=int, default=10, help="seated rows of 10")
    parser.add_argument("--rate", type=int, default=120, help="admissions per minute")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between two restarts")
    parser.add_argument(
        "--restarts", type=int, default=0, help="nodes restarted (0, the default: every node)"
    )
    parser.add_argument(
        "--max-errors", type=int, default=3, help="failed requests a fan may see (1012 apart)"
    )
    parser.add_argument(
        "--max-stall", type=float, default=5.0, help="seconds the sale may go without progress"
    )
    parser.add_argument(
        "--signal",
        choices=["TERM", "KILL"],
        default="TERM",
        help="how each node is stopped (KILL: no drain, the negative control)",
    )
    parser.add_argument("--report", type=Path, help="also write the JSON report here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser


class Rollout:
    """Each node stopped with the signal, waited for, started again and back
    in HAProxy, in turn, in a thread; what each restart looked like."""

    def __init__(
        self, apps: list[App], proxy: HAProxy, how: str, start_at: float, gap: float, say: Any
    ) -> None:
        self.apps, self.proxy, self.how, self.start_at, self.gap = apps, proxy, how, start_at, gap
        self.say = say
        self.restarts: list[dict[str, Any]] = []
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="rollout", daemon=True)

    def _run(self) -> None:
        try:
            time.sleep(max(self.start_at - time.time(), 0))
            for i, app in enumerate(self.apps, 1):
                self.restarts.append(self._restart(i, app))
                time.sleep(self.gap)
        except BaseException as exc:  # reported in the verdict
            self.failure = exc

    def _restart(self, i: int, app: App) -> dict[str, Any]:
        assert app.proc
        proc, at = app.proc, time.time()
        self.say(f"node{i} (pid {proc.pid}): SIG{self.how}")
        readyz = _Watch(app.url)
        if self.how == "TERM":
            proc.terminate()
        else:
            proc.kill()
        code = proc.wait(timeout=60)
        exited = time.time()
        readyz.stop()
        self.say(f"node{i}: exited {code} after {exited - at:.1f} s; readyz saw {readyz.seen}")
        app.start()
        up = _wait_up(self.proxy, self.proxy.nodes)
        assert app.proc
        self.say(f"node{i}: back as pid {app.proc.pid}, HAProxy has {up} nodes up")
        return {
            "node": i,
            "signal": self.how,
            "at": at,
            "exit_code": code,
            "exit_seconds": round(exited - at, 2),
            "readyz_seen": sorted(readyz.seen),
            "back_seconds": round(time.time() - at, 2),
            "new_pid": app.proc.pid,
        }


class _Watch:
    """Polls a node's /readyz (directly, not through HAProxy) until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=1) as client:
            while not self._stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    self.seen.add(client.get(f"{self.url}/readyz").status_code)
                self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _wait_up(proxy: HAProxy, nodes: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proxy.up() < nodes:
        time.sleep(0.2)
    return proxy.up()


class Stack:
    """Everything the run starts, stopped in reverse order whatever happens."""

    def __init__(self, work: Path, say: Any) -> None:
        self.work, self.say = work, say
        self.postgres: Backends | None = None
        self.cluster: RedisCluster | None = None
        self.apps: list[App] = []
        self.proxy: HAProxy | None = None
        self.locust: subprocess.Popen[bytes] | None = None
        self.admin_token = secrets.token_urlsafe(16)
        self.env: dict[str, str] = {}

    def start(self, nodes: int) -> None:
        # The embedded launcher's Postgres (its single Redis is not used).
        self.postgres = Backends(self.work / "backends")
        self.cluster = RedisCluster(self.work / "cluster")
        self.say(f"Redis Cluster on :{self.cluster.ports}, Postgres {self.postgres.database_url}")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ONSALE_")},
            "ONSALE_REDIS_URL": self.cluster.url,
            "ONSALE_DATABASE_URL": self.postgres.database_url,
            "ONSALE_SECRET_KEY": secrets.token_urlsafe(32),  # one for all nodes
            "ONSALE_ADMIN_TOKEN": self.admin_token,
            "ONSALE_JOIN_RATE_PER_MINUTE": "0",  # every fan comes from 127.0.0.1
            "ONSALE_FORWARDED_ALLOW_IPS": "127.0.0.1",  # HAProxy
            "ONSALE_LOG_LEVEL": "WARNING",
            "ONSALE_RECONCILE_SETTLE_SECONDS": str(SETTLE_SECONDS),
            "ONSALE_RECONCILE_INTERVAL_SECONDS": "1",
            "ONSALE_DRAIN_SECONDS": str(DRAIN["seconds"]),
            "ONSALE_DRAIN_WAIT_SECONDS": str(DRAIN["wait"]),
            "ONSALE_DRAIN_SPREAD_SECONDS": str(DRAIN["spread"]),
        }
        for i in range(max(nodes, 2)):
            app = App(free_port(), self.work / f"node{i + 1}", self.env)
            app.start()  # one at a time: each runs the migrations first
            self.apps.append(app)
            assert app.proc
            self.say(f"node{i + 1}: onsale serve on :{app.port}, pid {app.proc.pid}")
        self.proxy = HAProxy(self.work / "haproxy", [a.port for a in self.apps])
        self.proxy.wait_up(len(self.apps))
        self.say(f"HAProxy (deploy/haproxy/haproxy.cfg) on {self.proxy.url}")

    def stop(self) -> None:
        if self.locust is not None and self.locust.poll() is None:
            self.locust.kill()
            self.locust.wait()
        if self.proxy is not None:
            self.proxy.stop()
        for app in self.apps:
            app.stop()
        if self.cluster is not None:
            self.cluster.stop()
        if self.postgres is not None:
            self.postgres.stop()


def _load(
    stack: Stack, args: argparse.Namespace, event_id: str, venue_key: str, opens_at: float
) -> tuple[Rollout, dict[str, Any]]:
    assert stack.proxy
    lt_env = {
        **stack.env,
        "ONSALE_LT_EVENT": event_id,
        "ONSALE_LT_VENUE_KEY": venue_key,
        "ONSALE_LT_RECORD": str(stack.work / "record"),
        "ONSALE_LT_PERSIST": "1",
        "ONSALE_LT_REQUESTS": "1",
    }
    stats_url = f"{stack.proxy.url}/api/admin/events/{event_id}/stats"
    sold_out_at: list[float] = []

    def sold_out() -> bool:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            stats = httpx.get(stats_url, headers=_auth(venue_key), timeout=5).json()
            if stats["sold"] >= stats["capacity"]:
                sold_out_at.append(time.time())
                return True
        return False

    chosen = stack.apps[: args.restarts or len(stack.apps)]
    rollout = Rollout(
        chosen, stack.proxy, args.signal, opens_at + FIRST_RESTART, args.gap, stack.say
    )
    # Locust's own limit is only a bound: the load ends TAIL s after the rollout.
    seconds = int(OPENS_IN + FIRST_RESTART + 30 * len(stack.apps)) + 60
    stack.say(f"Locust: {args.fans} users through HAProxy")
    stack.locust = start_locust(
        stack.proxy.url, lt_env, args.fans, seconds, stack.work / "stats", stop_timeout=3
    )
    rollout.thread.start()
    done_at: list[float] = []

    def over() -> bool:
        if sold_out():
            return True
        if not rollout.thread.is_alive():
            done_at.append(done_at[0] if done_at else time.time())
            return time.time() >= done_at[0] + TAIL
        return False

    locust_rc = finish_locust(stack.locust, seconds, over)
    rollout.thread.join(120)
    stack.say(f"load over (Locust exit code {locust_rc})")
    return rollout, {
        "locust_exit_code": locust_rc,
        "sold_out_at": sold_out_at[0] if sold_out_at else None,
    }


def _verdict(
    stack: Stack,
    args: argparse.Namespace,
    event_id: str,
    venue_key: str,
    rollout: Rollout,
    load: dict[str, Any],
) -> dict[str, Any]:
    assert stack.proxy and stack.cluster
    stack.say(f"waiting for the reconciler to settle ({SETTLE_SECONDS} s + 2 rounds)")
    time.sleep(SETTLE_SECONDS + 3)
    base = f"{stack.proxy.url}/api/admin/events/{event_id}"
    stats = _get(f"{base}/stats", _auth(venue_key))
    orders = {o["order_id"]: o for o in _get(f"{base}/orders", _auth(venue_key))["orders"]}
    record = read_record(stack.work / "record")
    problems, _ = violations(record, orders)
    checked = verify(stack.env, event_id)
    problems += checked.get("violations", [])
    errors, unhandled = _app_errors(stack.apps)
    problems += [f"unhandled exception (a 500 or a 1011 close): {u}" for u in unhandled]
    if rollout.failure is not None:
        problems.append(f"the rollout failed: {rollout.failure!r}")
    problems += restart_problems(rollout.restarts, DRAIN["seconds"])
    rolling, figures = rolling_problems(
        record,
        max_errors=args.max_errors,
        max_stall=args.max_stall,
        sold_out_at=load["sold_out_at"],
    )
    problems += rolling
    if len(rollout.restarts) < len(rollout.apps):
        problems.append(f"only {len(rollout.restarts)} of {len(rollout.apps)} nodes were restarted")
    return {
        "ok": not problems,
        "event_id": event_id,
        "restarts": rollout.restarts,
        **figures,
        "errors": fans_with_errors(record),
        "orders_paid": sum(1 for o in orders.values() if o.get("status") == "paid"),
        "sold": stats["sold"],
        "capacity": stats["capacity"],
        "keys_per_redis_master": stack.cluster.keys_per_master(),
        "fans_told": _counts([line for line in record if line["kind"] != "request"]),
        "violations": problems,
        "verify": checked,
        "app_errors": errors[:30],
        "locust_exit_code": load["locust_exit_code"],
        "work": str(stack.work) if args.keep else None,
    }


def run(args: argparse.Namespace, work: Path, clock: Clock) -> int:
    stack = Stack(work, clock.say)
    try:
        stack.start(args.nodes)
        assert stack.proxy
        opens_at = time.time() + OPENS_IN
        body = sellout_event(
            ga=args.ga, rows=args.rows, opens_in=OPENS_IN, rate=args.rate, max_active=10_000
        )
        event_id, venue_key = create_event(stack.proxy.url, stack.admin_token, body)
        clock.say(f"event {event_id}: {args.ga + args.rows * 10} places, opens in {OPENS_IN:.0f} s")
        rollout, load = _load(stack, args, event_id, venue_key, opens_at)
        report = _verdict(stack, args, event_id, venue_key, rollout, load)
    finally:
        stack.stop()
    return emit(report, args.report)


def main() -> int:
    return run_in_scratch(_parser().parse_args(), run, "onsale-rolling-")


if __name__ == "__main__":
    raise SystemExit(main())
