"""bench_holds.py's three targets (onsale, bare, pg): how each server is
started, set up (a venue, an event, admitted shoppers) and reset; and the
scratch Redis keys and Postgres database they use."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

import launch
from bare import lua_app, pg_app
from holds_wrk import HOLD_BODY
from scenario import event_body, free_port, iso, serve_command

LOADTESTS = Path(__file__).resolve().parent
REDIS_URL = "redis://127.0.0.1:6379/5"
REDIS_PREFIX = "benchholds"
BARE_PREFIX = f"{REDIS_PREFIX}:bare"
PG_ROOT = "postgresql://postgres@127.0.0.1:5432"
PG_DB = "onsale_benchholds"
PG_DSN = f"{PG_ROOT}/{PG_DB}"
CAPACITY = 100_000
PG_CAPACITY = 10_000_000
UVICORN_OPTS = ["--http", "httptools", "--loop", "uvloop", "--log-level", "warning"]


@dataclass
class Target:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    ready: Callable[[httpx.Client], bool]
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
    return launch.onsale_env(
        admin_token,
        ONSALE_REDIS_URL=REDIS_URL,
        ONSALE_REDIS_PREFIX=REDIS_PREFIX,
        ONSALE_DATABASE_URL=PG_DSN,
        ONSALE_SECRET_KEY=secrets.token_urlsafe(32),
    )


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


def onsale(workers: int, shoppers: int) -> Target:
    port, admin = free_port(), secrets.token_urlsafe(16)
    return Target(
        name="onsale",
        argv=serve_command(port, workers),
        env=_onsale_env(admin),
        port=port,
        ready=launch.readyz,
        setup=lambda url: asyncio.run(_onsale_setup(url, admin, shoppers)),
    )


def _bare_ready(client: httpx.Client) -> bool:
    r = client.post(
        "/api/events/bench/holds", content=HOLD_BODY, headers={"Authorization": "Bearer probe"}
    )
    return r.status_code < 500


def _bare_tokens(shoppers: int) -> list[str]:
    return [f"shopper-{i}" for i in range(shoppers)]


def bare(
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
        port=port,
        ready=_bare_ready,
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


def pg(workers: int, shoppers: int, lock: str, preload: int, keep: bool) -> Target:
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
        port=port,
        ready=_bare_ready,
        setup=lambda url: ("/api/events/bench/holds", _bare_tokens(shoppers)),
        before_run=lambda: _pg_reset(preload, keep),
        after_run=lambda: {"holds_table_rows_after": asyncio.run(pg_app.live_holds(PG_DSN))},
        notes={"lock": lock, "preload": preload, "table_kept_between_runs": keep},
    )


async def fresh_database() -> None:
    """(Re)create the scratch database: no event of an earlier run survives."""
    conn = await asyncpg.connect(f"{PG_ROOT}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{PG_DB}"')
    finally:
        await conn.close()


def clear_redis() -> int:
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


def src_fingerprint() -> dict[str, Any]:
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
