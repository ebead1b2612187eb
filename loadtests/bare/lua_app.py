"""The ceiling of the stack: a bare Starlette hold endpoint over one Lua script.

    BARE_REDIS_URL=redis://127.0.0.1:6379/5 BARE_KEY_PREFIX=benchholds:bare \\
    PYTHONPATH=loadtests uvicorn bare.lua_app:create_app --factory \\
        --http httptools --loop uvloop --workers 1

``POST /api/events/{event_id}/holds`` with ``{"section": ..., "quantity": n}``
and ``Authorization: Bearer <shopper>``: one EVALSHA of a hold-like script (a
GA capacity check with HGET/HINCRBY; the shopper's previous hold is replaced,
so stock never runs out while shoppers re-hold). No token check, no event
lookup, no middleware: what is left is uvicorn + Starlette + redis-py.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# KEYS: 1 ga hash (cap, held), 2 by_entry hash (shopper -> places held)
# ARGV: 1 shopper, 2 quantity. Returns {1, held} or {0, available}.
HOLD_LUA = """
local cap = tonumber(redis.call('HGET', KEYS[1], 'cap') or '0')
local held = tonumber(redis.call('HGET', KEYS[1], 'held') or '0')
local old = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local q = tonumber(ARGV[2])
if held - old + q > cap then return {0, cap - held + old} end
if q ~= old then redis.call('HINCRBY', KEYS[1], 'held', q - old) end
redis.call('HSET', KEYS[2], ARGV[1], q)
return {1, held - old + q}
"""


def script(pad_calls: int) -> str:
    """HOLD_LUA, plus ``pad_calls`` extra HGETs (an experiment: a script that
    takes as long in Redis as onsale's hold.lua)."""
    pad = f"for _ = 1, {pad_calls} do redis.call('HGET', KEYS[1], 'cap') end\n"
    return (pad if pad_calls else "") + HOLD_LUA


def keys(prefix: str) -> list[str]:
    return [f"{prefix}:ga", f"{prefix}:by_entry"]


async def prepare(client: Redis, prefix: str, capacity: int) -> None:
    """Reset the section: ``capacity`` places, none held."""
    await client.delete(*keys(prefix))
    await client.hset(keys(prefix)[0], mapping={"cap": capacity, "held": 0})


def create_app() -> Starlette:
    url = os.environ.get("BARE_REDIS_URL", "redis://127.0.0.1:6379/5")
    prefix = os.environ.get("BARE_KEY_PREFIX", "benchholds:bare")
    # Experiments (default off): extra HGETs in the script, a call as wide as
    # onsale's (11 KEYS, 7 ARGV) instead of 2 + 2,
    pad_calls = int(os.environ.get("BARE_PAD_CALLS", "0"))
    wide = os.environ.get("BARE_WIDE", "") == "1"
    # and redis-py's plain pool (no asyncio.Condition + timeout per checkout)
    plain_pool = os.environ.get("BARE_PLAIN_POOL", "") == "1"
    call_keys = keys(prefix) + ([f"{prefix}:unused{i}" for i in range(9)] if wide else [])
    extra_args = ["ga", "FLOOR", "[]", "0", "x"] if wide else []
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Same pool shape as onsale.redis.connect, so only the app code differs.
        pool: ConnectionPool = (
            ConnectionPool.from_url(url, max_connections=64, decode_responses=True)
            if plain_pool
            else BlockingConnectionPool.from_url(
                url, max_connections=64, timeout=5.0, decode_responses=True
            )
        )
        client = Redis.from_pool(pool)
        state["script"] = client.register_script(script(pad_calls))
        try:
            yield
        finally:
            await client.aclose()

    async def hold(request: Request) -> Response:
        body = json.loads(await request.body())
        shopper = request.headers.get("authorization", "")
        ok, value = await state["script"](
            keys=call_keys, args=[shopper, body["quantity"], *extra_args]
        )
        if not ok:
            return JSONResponse({"error": {"code": "seats_unavailable"}}, status_code=409)
        hold_id = f"hold_{secrets.token_hex(8)}"
        return JSONResponse(
            {
                "hold_id": hold_id,
                "section": body["section"],
                "quantity": body["quantity"],
                "held": value,
            },
            status_code=201,
        )

    return Starlette(
        routes=[Route("/api/events/{event_id}/holds", hold, methods=["POST"])],
        lifespan=lifespan,
    )
