"""How far one Redis shard goes on onsale's hottest script: ``hold.lua``,
driven by ``redis-benchmark`` against a Redis of its own (one shard is one
``redis-server`` process, one core: every key of an event shares its hash
tag, so one hot event lives on one shard whatever the cluster's size).

    python loadtests/bench_shard.py                 # ~10 s
    python loadtests/bench_shard.py --requests 400000 --clients 100

The event's inventory is built by onsale's own ``rebuild`` script (one GA
section too big to sell out during the run); each call takes 2 GA places under
a new random hold id (redis-benchmark's ``__rand_int__``). The calls take the
box office's path (no shopper session to look up): redis-benchmark draws each
``__rand_int__`` of a command on its own, so it cannot name a shopper and a
hold id that belong together; a shopper's hold adds two sorted-set commands
(its session and presence) to the same script. Also measured: PING (the
shard's bare round trip, same clients) and Redis' own CPU time per script
call (``INFO commandstats``). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aredis

from onsale.events.policy import Admission, Category, EventSpec, Limits, SaleWindow, Section
from onsale.inventory.store import InventoryStore
from scenario import free_port

EVENT = "ev_shard_bench"
PREFIX = "bench"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=50)
    return parser


def _spec() -> EventSpec:
    now = datetime.now(UTC)
    return EventSpec(
        name="shard bench",
        starts_at=now + timedelta(days=1),
        sale=SaleWindow(now - timedelta(hours=1), now - timedelta(minutes=1), now + timedelta(1)),
        admission=Admission(),
        hold_seconds=600,
        limits=Limits(per_order=6, per_buyer=6),
        categories=(Category("STD", "Standard", 2500, 100, "EUR"),),
        sections=(Section("FLOOR", "ga", "STD", 100_000_000),),
    )


async def _prepare(port: int) -> tuple[str, list[str]]:
    """Build the inventory; the hold script's SHA and KEYS."""
    client = aredis.Redis(port=port, decode_responses=True)
    try:
        store = InventoryStore(client, PREFIX)
        await store.rebuild(EVENT, _spec(), [])
        keys = store.keys(EVENT)
        # One call through onsale's own path loads the script; its SHA is the
        # one redis-benchmark calls.
        from onsale.inventory.policy import HoldRequest

        await store.hold(EVENT, "h_warm", "", HoldRequest("ga", "FLOOR", 2, ()), boxoffice=True)
        sha = next(s.sha for name, s in store._scripts._scripts.items() if name == "hold")
        return str(sha), keys.inventory()
    finally:
        await client.aclose()


def _benchmark(port: int, clients: int, requests: int, *command: str) -> Any:
    options = ["-p", str(port), "-c", str(clients), "-n", str(requests), "-r", "100000000"]
    done = subprocess.run(
        ["redis-benchmark", *options, "--csv", *command],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    header, row = done.stdout.strip().splitlines()[-2:]
    names = [h.strip('"') for h in header.split(",")]
    values = [v.strip('"') for v in row.split(",")]
    return dict(zip(names, values, strict=True))


def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="onsale-shard-"))
    port = free_port()
    no_disk = ["--save", "", "--appendonly", "no", "--dir", str(folder)]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", *no_disk],
        stdout=subprocess.DEVNULL,
    )
    try:
        ping = redis.Redis(port=port)
        for _ in range(100):
            try:
                ping.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        sha, keys = asyncio.run(_prepare(port))
        ping.config_resetstat()
        started = time.monotonic()
        hold = _benchmark(
            port, args.clients, args.requests,
            "EVALSHA", sha, str(len(keys)), *keys, "h__rand_int__", "", "ga", "FLOOR", "2", "1",
        )  # fmt: skip
        seconds = time.monotonic() - started
        stats = ping.info("commandstats").get("cmdstat_evalsha", {})
        failed = ping.info("errorstats")
        # 2 places per call (and the warm-up's): fewer would mean calls refused.
        ga = keys[3]  # KEYS order: meta, seats, layout, ga (onsale.keys)
        held = int(ping.hget(ga, "FLOOR:held") or 0)
        bare = _benchmark(port, args.clients, args.requests, "PING")
        return {
            "hold_script": {
                "calls_per_second": float(hold["rps"]),
                "p50_ms": float(hold["p50_latency_ms"]),
                "p99_ms": float(hold["p99_latency_ms"]),
                "redis_cpu_us_per_call": float(stats.get("usec_per_call", 0)),
                "calls": int(stats.get("calls", 0)),
                "failed_calls": int(stats.get("failed_calls", 0)),
                "errors": failed,
                "places_held_after": held,
                "seconds": round(seconds, 1),
            },
            "ping": {
                "calls_per_second": float(bare["rps"]),
                "p99_ms": float(bare["p99_latency_ms"]),
            },
            "clients": args.clients,
        }
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    print(json.dumps(run(_parser().parse_args()), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
