"""Holds per second and checkout latency of a running onsale, measured from
outside over HTTP (loopback only).

    python loadtests/bench_core.py                 # starts `onsale serve` itself
    python loadtests/bench_core.py --url http://127.0.0.1:8000 --admin-token T

Without --url it starts `onsale serve --workers N` on a free port (loadtests/
launch.py: ONSALE_JOIN_RATE_PER_MINUTE=0, as every shopper joins from
127.0.0.1) against the services named by ONSALE_REDIS_URL /
ONSALE_DATABASE_URL (or embedded ones); with --url the server must run with
ONSALE_JOIN_RATE_PER_MINUTE=0 too. It creates a venue and an event, admits the shoppers, then:
- holds: C concurrent shoppers each re-hold a GA place again and again (a new
  hold replaces the last one) for --seconds;
- checkouts: every shopper holds one seat and pays, C at a time.
Every loop is bounded in count and time. Prints a JSON report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import time
import uuid
from typing import Any

import httpx

import launch
import procstat
from scenario import event_body

CARD = {"provider": "test", "card_number": "4242424242424242"}


def _event(shoppers: int) -> dict[str, Any]:
    admission = {"rate_per_minute": 1_000_000, "max_active": shoppers + 10, "session_seconds": 3600}
    return event_body(
        "Benchmark night", admission=admission, ga=100_000, seated_rows=max(shoppers // 20 + 1, 1)
    )


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * p), len(ordered) - 1)]


def _summary(latencies: list[float], seconds: float, errors: int) -> dict[str, Any]:
    return {
        "count": len(latencies),
        "errors": errors,
        "per_second": round(len(latencies) / seconds, 1) if seconds else 0,
        "p50_ms": round(_pct(latencies, 0.50) * 1000, 2),
        "p99_ms": round(_pct(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else 0,
    }


async def _admit(client: httpx.AsyncClient, event_id: str, n: int) -> list[str]:
    async def one() -> str:
        r = await client.post(f"/api/events/{event_id}/queue")
        token = r.json()["queue_token"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            s = await client.get(
                f"/api/events/{event_id}/queue/status", headers={"Authorization": f"Bearer {token}"}
            )
            if s.json().get("state") == "admitted":
                return str(s.json()["access_token"])
            await asyncio.sleep(0.2)
        raise RuntimeError("a shopper was not admitted within 30 s")

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def _holds(
    client: httpx.AsyncClient, event_id: str, tokens: list[str], seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    async def shopper(token: str) -> None:
        nonlocal errors
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(1_000_000):
            if time.monotonic() >= stop:
                return
            t0 = time.perf_counter()
            r = await client.post(
                f"/api/events/{event_id}/holds",
                headers=headers,
                json={"section": "FLOOR", "quantity": 1},
            )
            latencies.append(time.perf_counter() - t0)
            errors += r.status_code != 201

    started = time.monotonic()
    await asyncio.gather(*(shopper(t) for t in tokens))
    return _summary(latencies, time.monotonic() - started, errors)


async def _checkouts(client: httpx.AsyncClient, event_id: str, tokens: list[str]) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0

    async def buy(i: int, token: str) -> None:
        nonlocal errors
        headers = {"Authorization": f"Bearer {token}"}
        r = await client.post(
            f"/api/events/{event_id}/holds",
            headers=headers,
            json={"seats": [f"BALC-R{i // 20}-{i % 20 + 1}"]},
        )
        if r.status_code != 201:
            errors += 1
            return
        t0 = time.perf_counter()
        c = await client.post(
            f"/api/holds/{r.json()['hold_id']}/checkout",
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
            json={"buyer": {"email": f"fan{i}@example.org", "name": "Fan"}, "payment": CARD},
        )
        latencies.append(time.perf_counter() - t0)
        errors += c.status_code != 201

    started = time.monotonic()
    await asyncio.gather(*(buy(i, t) for i, t in enumerate(tokens)))
    return _summary(latencies, time.monotonic() - started, errors)


async def run(url: str, admin_token: str, shoppers: int, seconds: float) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=shoppers, max_keepalive_connections=shoppers)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        venue = (
            await client.post(
                "/api/admin/venues",
                headers={"Authorization": f"Bearer {admin_token}"},
                json={"name": "Bench", "slug": f"bench-{secrets.token_hex(4)}", "timezone": "UTC"},
            )
        ).json()
        event = (
            await client.post(
                "/api/admin/events",
                json=_event(shoppers),
                headers={"Authorization": f"Bearer {venue['api_key']}"},
            )
        ).json()
        tokens = await _admit(client, event["id"], shoppers)
        cpu0 = procstat.cpu_seconds([os.getpid()])
        holds = await _holds(client, event["id"], tokens, seconds)
        checkouts = await _checkouts(client, event["id"], tokens)
        cpu1 = procstat.cpu_seconds([os.getpid()])
    return {
        "url": url,
        "shoppers": shoppers,
        "holds": holds,
        "checkouts": checkouts,
        "client_cpu_seconds": round(cpu1 - cpu0, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running onsale (default: start one)")
    parser.add_argument("--admin-token", default=os.environ.get("ONSALE_ADMIN_TOKEN", ""))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--shoppers", type=int, default=64, help="concurrent connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the hold run")
    args = parser.parse_args()
    server = None
    url, token = args.url, args.admin_token
    if url is None:
        # Its own server, started as every bench starts one: every shopper
        # joins from 127.0.0.1, so without the launcher's
        # ONSALE_JOIN_RATE_PER_MINUTE=0 the per-address join limit refused
        # all but the first few joins.
        token = token or secrets.token_urlsafe(16)
        server = launch.onsale(launch.onsale_env(token), workers=args.workers).start()
        url = server.url
    try:
        report = asyncio.run(run(url, token, args.shoppers, min(args.seconds, 120.0)))
        report["workers"] = args.workers if server else None
        print(json.dumps(report, indent=2))
    finally:
        if server:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
