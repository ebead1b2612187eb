"""The Postgres-only way of Postgres-only ticketing systems (pretix, Hi.Events):
every hold of a quota takes one database lock, counts the live holds, inserts.

    BARE_PG_DSN=postgresql://postgres@127.0.0.1:5432/onsale_benchholds \\
    BARE_PG_LOCK=row PYTHONPATH=loadtests uvicorn bare.pg_app:create_app --factory \\
        --http httptools --loop uvloop --workers 1

``POST /api/events/{event_id}/holds`` with ``{"section": ..., "quantity": n}``:
one transaction that locks the quota (``SELECT ... FOR UPDATE`` on its row with
BARE_PG_LOCK=row, ``pg_advisory_xact_lock`` with BARE_PG_LOCK=advisory), sums
the live holds of the quota and inserts one. Holds are never replaced, so the
table grows during the run, as carts do during a real on-sale.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

QUOTA_ID = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS benchpg_quota (
    id integer PRIMARY KEY, section text NOT NULL, capacity integer NOT NULL);
CREATE TABLE IF NOT EXISTS benchpg_holds (
    id bigserial PRIMARY KEY, quota_id integer NOT NULL REFERENCES benchpg_quota(id),
    entry text NOT NULL, quantity integer NOT NULL, expires_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS benchpg_holds_live ON benchpg_holds (quota_id, expires_at);
"""
LOCKS = {
    # the quota row, locked; its capacity comes with it
    "row": ["SELECT capacity FROM benchpg_quota WHERE id = $1 FOR UPDATE"],
    # pretix: an advisory lock per quota, then the quota is read
    "advisory": [
        "SELECT pg_advisory_xact_lock($1)",
        "SELECT capacity FROM benchpg_quota WHERE id = $1",
    ],
}
LIVE = (
    "SELECT coalesce(sum(quantity), 0) FROM benchpg_holds"
    " WHERE quota_id = $1 AND expires_at > now()"
)
INSERT = (
    "INSERT INTO benchpg_holds (quota_id, entry, quantity, expires_at)"
    " VALUES ($1, $2, $3, now() + interval '10 minutes') RETURNING id"
)


async def prepare(dsn: str, capacity: int, preload: int) -> None:
    """Fresh tables: one quota of ``capacity``, ``preload`` live holds in it."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS benchpg_holds, benchpg_quota")
        await conn.execute(SCHEMA)
        await conn.execute("INSERT INTO benchpg_quota VALUES ($1, 'FLOOR', $2)", QUOTA_ID, capacity)
        await _preload(conn, preload)
    finally:
        await conn.close()


async def reset(dsn: str, preload: int) -> None:
    """The holds table back to ``preload`` live holds (TRUNCATE, not DROP: the
    servers' prepared statements stay valid)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE benchpg_holds RESTART IDENTITY")
        await _preload(conn, preload)
    finally:
        await conn.close()


async def _preload(conn: Any, preload: int) -> None:
    if preload:
        await conn.execute(
            "INSERT INTO benchpg_holds (quota_id, entry, quantity, expires_at)"
            " SELECT $1, 'pre' || g, 1, now() + interval '1 hour'"
            " FROM generate_series(1, $2) g",
            QUOTA_ID,
            preload,
        )
    await conn.execute("VACUUM ANALYZE benchpg_holds")


async def live_holds(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM benchpg_holds"))
    finally:
        await conn.close()


async def _hold(conn: Any, lock: str, entry: str, quantity: int) -> tuple[bool, int]:
    async with conn.transaction():
        capacity: Any = None
        for query in LOCKS[lock]:
            capacity = await conn.fetchval(query, QUOTA_ID)
        capacity = int(capacity)
        live = int(await conn.fetchval(LIVE, QUOTA_ID))
        if live + quantity > capacity:
            return False, capacity - live
        return True, int(await conn.fetchval(INSERT, QUOTA_ID, entry, quantity))


def create_app() -> Starlette:
    dsn = os.environ.get("BARE_PG_DSN", "postgresql://postgres@127.0.0.1:5432/onsale_benchholds")
    lock = os.environ.get("BARE_PG_LOCK", "row")
    pool_size = int(os.environ.get("BARE_PG_POOL", "20"))
    if lock not in LOCKS:
        raise ValueError(f"BARE_PG_LOCK must be one of {sorted(LOCKS)}")
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(
            dsn,
            min_size=pool_size,
            max_size=pool_size,
            command_timeout=10,
            server_settings={"lock_timeout": "3000", "application_name": "benchholds"},
        )
        try:
            yield
        finally:
            await state["pool"].close()

    async def hold(request: Request) -> Response:
        body = json.loads(await request.body())
        entry = request.headers.get("authorization", "")
        async with state["pool"].acquire() as conn:
            ok, value = await _hold(conn, lock, entry, int(body["quantity"]))
        if not ok:
            return JSONResponse({"error": {"code": "seats_unavailable"}}, status_code=409)
        return JSONResponse(
            {"hold_id": f"hold_{value}", "section": body["section"], "quantity": body["quantity"]},
            status_code=201,
        )

    return Starlette(
        routes=[Route("/api/events/{event_id}/holds", hold, methods=["POST"])],
        lifespan=lifespan,
    )
