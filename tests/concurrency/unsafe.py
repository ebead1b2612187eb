"""A hold WITHOUT atomicity: the negative control of the concurrency tests.

It reads the seats, yields (as any implementation with a round trip between
its check and its write does), then writes. Concurrent buyers of the last
seats then oversell, which is what the Lua scripts exist to prevent. Used only
by the negative controls, which give it to the store (``InventoryStore``'s
``unsafe_hold``); it ships in no package.
"""

from __future__ import annotations

import asyncio
import json
import time

from onsale.errors import SeatsUnavailable
from onsale.inventory.policy import HoldRequest
from onsale.keys import EventKeys
from onsale.redis import AnyRedis

# The gap between the check and the write: one network round trip.
CHECK_TO_WRITE_SECONDS = 0.01


async def hold(
    client: AnyRedis, keys: EventKeys, hold_id: str, entry: str, request: HoldRequest
) -> str:
    """Check, yield, write. Returns the hold record (as hold.lua would)."""
    hold_ms = int(await client.hget(keys.meta, "hold_ms") or 0)
    if request.mode == "ga":
        cap, held, sold = await client.hmget(
            keys.ga, [f"{request.section}:{f}" for f in ("cap", "held", "sold")]
        )
        await asyncio.sleep(CHECK_TO_WRITE_SECONDS)
        if int(cap or 0) - int(held or 0) - int(sold or 0) < request.quantity:
            raise SeatsUnavailable()
        await client.hincrby(keys.ga, f"{request.section}:held", request.quantity)
    else:
        states = await client.hmget(keys.seats, list(request.seats))
        await asyncio.sleep(CHECK_TO_WRITE_SECONDS)
        taken = [s for s, st in zip(request.seats, states, strict=True) if st != "F"]
        if taken:
            raise SeatsUnavailable(unavailable=taken)
        for seat in request.seats:
            await client.hset(keys.seats, seat, f"H:{hold_id}")
    await client.hincrby(keys.meta, "held", request.quantity)
    expires = int(time.time() * 1000) + hold_ms
    record = json.dumps(
        {
            "id": hold_id,
            "e": entry,
            "sec": request.section,
            "seats": list(request.seats),
            "q": request.quantity,
            "x": expires,
            "hx": expires,
            "st": "held",
        }
    )
    await client.hset(keys.holds, hold_id, record)
    await client.zadd(keys.expiries, {hold_id: expires})
    return record
