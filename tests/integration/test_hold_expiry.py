"""I4: a hold that is neither bought nor released returns its places to sale
within its time to live plus one second, with no background job: every script
reclaims expired holds first. Real time, on Redis' clock, with 1 s holds.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aredis

from onsale.errors import Forbidden, HoldExpired, NotFound, SeatsUnavailable
from onsale.inventory.store import Hold, InventoryStore, Sale
from onsale.settings import Settings
from tests.integration.test_inventory_scripts import (
    EV,
    check,
    ga,
    make_spec,
    poke,
    redis_ms,
    seats,
    shop,
)

POLL_S = 0.05


async def sleep_past(client: aredis.Redis, t_ms: int) -> None:
    """Sleep until Redis' clock (the scripts' clock) is past ``t_ms``."""
    for _ in range(100):
        now = await redis_ms(client)
        if now > t_ms:
            return
        await asyncio.sleep((t_ms - now) / 1000 + 0.01)
    raise AssertionError("Redis' clock does not move")


@pytest.fixture
def store(redis_client: aredis.Redis, settings: Settings) -> InventoryStore:
    return InventoryStore(redis_client, settings.redis_prefix)


async def test_unbought_holds_come_back_within_ttl_plus_one_second(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(ga=5, hold_seconds=1), [])
    for e in ("a", "b", "c", "d"):
        await shop(redis_client, store, e)
    t0 = await redis_ms(redis_client)
    seated = await store.hold(EV, "h1", "a", seats("BALC-A-1", "BALC-A-2"))
    standing = await store.hold(EV, "h2", "b", ga(3))
    assert t0 + 1000 <= seated.expires_ms <= t0 + 1000 + 500
    await check(redis_client, store, held=5, sold=0)

    # Other fans keep trying; the places come back for them by their own attempts.
    got_seats: Hold | None = None
    got_ga: Hold | None = None
    seats_at = ga_at = 0
    deadline = t0 + 2000 + 1000  # TTL + 1 s, plus slack for this loop itself
    while (got_seats is None or got_ga is None) and await redis_ms(redis_client) < deadline:
        if got_seats is None:
            try:
                got_seats = await store.hold(EV, "h3", "c", seats("BALC-A-2", "BALC-A-1"))
                seats_at = await redis_ms(redis_client)
            except SeatsUnavailable as exc:
                assert exc.details == {"unavailable": ["BALC-A-2", "BALC-A-1"]}
        if got_ga is None:
            try:
                got_ga = await store.hold(EV, "h4", "d", ga(5))
                ga_at = await redis_ms(redis_client)
            except SeatsUnavailable as exc:
                assert exc.details == {"available": 2}
        await asyncio.sleep(POLL_S)
    assert got_seats is not None and got_ga is not None
    # Not before the hold's own expiry, and within its TTL plus one second.
    assert seated.expires_ms <= seats_at <= seated.expires_ms + 1000
    assert standing.expires_ms <= ga_at <= standing.expires_ms + 1000
    assert await store.seat_marks(EV) == {
        **{s: "F" for s in await store.seat_marks(EV)},
        "BALC-A-1": "H:h3",
        "BALC-A-2": "H:h3",
    }
    assert {h.hold_id for h in await store.live_holds(EV)} == {"h3", "h4"}
    keys = store.keys(EV)
    assert await redis_client.hgetall(keys.by_entry) == {"c": "h3", "d": "h4"}
    await check(redis_client, store, held=7, sold=0)


async def test_any_script_reclaims_expired_holds(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(ga=5, hold_seconds=1), [])
    await shop(redis_client, store, "a")
    h = await store.hold(EV, "h1", "a", seats("BALC-B-3"))
    await shop(redis_client, store, "b")
    await store.hold(EV, "h2", "b", ga(4))
    # Counts alone are a plain read: they change only when a script has run.
    freed_at = 0
    while await redis_ms(redis_client) < h.expires_ms + 2000:
        await poke(store)  # release of an unknown hold: NotFound, after reclaiming
        counts = await store.counts(EV)
        if counts.held == 0:
            freed_at = await redis_ms(redis_client)
            break
        assert counts.held == 5
        await asyncio.sleep(POLL_S)
    assert h.expires_ms <= freed_at <= h.expires_ms + 1000
    assert await store.seat_states(EV) == {s: "free" for s in await store.seat_states(EV)}
    assert await store.ga_counts(EV) == {"FLOOR": {"cap": 5, "held": 0, "sold": 0}}
    assert await store.live_holds(EV) == []
    assert await redis_client.hlen(store.keys(EV).by_entry) == 0
    with pytest.raises(NotFound):
        await store.release(EV, "h1", "a")
    await check(redis_client, store, held=0, sold=0)


async def test_checkout_grace_outlives_the_hold(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(hold_seconds=1), [])
    await shop(redis_client, store, "a")
    await shop(redis_client, store, "b")
    h = await store.hold(EV, "h1", "a", seats("BALC-A-1", "BALC-A-2"))
    g = await store.hold(EV, "h2", "b", ga(2))
    await store.begin_checkout(EV, "h1", "a", 3000)
    await store.begin_checkout(EV, "h2", "b", 3000)
    await sleep_past(redis_client, max(h.expires_ms, g.expires_ms) + 100)
    await poke(store)
    # Both outlived their own expiry: the payment may still complete normally.
    assert {x.hold_id for x in await store.live_holds(EV)} == {"h1", "h2"}
    await check(redis_client, store, held=4, sold=0)
    assert await store.commit_sold(EV, "o1", "h1", Sale("BALC", h.seats, 2, "a")) is True
    assert await store.seat_marks(EV) == {
        **{s: "F" for s in await store.seat_marks(EV)},
        "BALC-A-1": "S:o1",
        "BALC-A-2": "S:o1",
    }
    await check(redis_client, store, held=2, sold=2)
    # The payment of the other fails: back to its own expiry, which is past.
    with pytest.raises(HoldExpired):
        await store.abort_checkout(EV, "h2")
    assert await store.ga_counts(EV) == {"FLOOR": {"cap": 10, "held": 0, "sold": 0}}
    with pytest.raises(HoldExpired):
        await store.begin_checkout(EV, "h2", "b", 3000)
    await check(redis_client, store, held=0, sold=2)


async def test_checkout_grace_runs_out_too(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    """A checkout that never finishes (its process died) frees the places once the
    grace is over, too."""
    await store.rebuild(EV, make_spec(hold_seconds=1), [])
    await shop(redis_client, store, "a")
    h = await store.hold(EV, "h1", "a", seats("BALC-A-1"))
    t0 = await redis_ms(redis_client)
    await store.begin_checkout(EV, "h1", "a", 1500)
    freed_at = 0
    while await redis_ms(redis_client) < t0 + 1500 + 2000:
        await poke(store)
        if (await store.counts(EV)).held == 0:
            freed_at = await redis_ms(redis_client)
            break
        await asyncio.sleep(POLL_S)
    assert t0 + 1500 <= freed_at <= t0 + 1500 + 1000
    assert freed_at > h.expires_ms
    await check(redis_client, store, held=0, sold=0)


async def test_an_ended_session_cannot_hold(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(), [])
    await shop(redis_client, store, "a", ms=300)
    await store.hold(EV, "h1", "a", ga(1))
    session_end = await redis_client.zscore(store.keys(EV).active, "a")
    assert session_end is not None
    await sleep_past(redis_client, int(session_end))
    with pytest.raises(Forbidden):
        await store.hold(EV, "h2", "a", ga(2))
    # The hold made during the session stays until its own expiry.
    assert [x.hold_id for x in await store.live_holds(EV)] == ["h1"]
    await check(redis_client, store, held=1, sold=0)
