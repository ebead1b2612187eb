"""Every queue Lua script against a real Redis: join, draw, admit, status, leave,
driven through ``QueueStore``. Admission is driven by moving ``last_ms`` in the
queue hash back on Redis' own clock, never by sleeping.
"""

from __future__ import annotations

import pytest
import redis.asyncio as aredis

from onsale.errors import Forbidden, SaleNotOpen, SoldOut, Unavailable
from onsale.inventory.policy import HoldRequest
from onsale.inventory.store import InventoryStore, Sale
from onsale.queue.store import AdmitResult, DrawPending, DrawStale, QueueStore
from onsale.settings import Settings
from tests.integration.clock import pass_time
from tests.integration.test_inventory_scripts import EV, make_spec, redis_ms


@pytest.fixture
def queue(redis_client: aredis.Redis, settings: Settings) -> QueueStore:
    return QueueStore(redis_client, settings.redis_prefix)


async def numbers(client: aredis.Redis, queue: QueueStore) -> dict[str, int]:
    raw: dict[str, str] = await client.hgetall(queue.keys(EV).entries)
    return {e: int(n) for e, n in raw.items()}


async def open_queue(
    client: aredis.Redis, queue: QueueStore, waiting: int, **spec: int
) -> list[str]:
    """An open, drawn queue (no pre-queue) with ``waiting`` fans e0, e1... numbered
    1, 2... in that order."""
    await queue.configure(EV, make_spec(**spec))
    assert await queue.draw(EV, []) is True
    entries = [f"e{i}" for i in range(waiting)]
    for i, e in enumerate(entries, start=1):
        joined = await queue.join(EV, e)
        assert (joined.number, joined.new) == (i, True)
    return entries


async def budget_since(client: aredis.Redis, queue: QueueStore, ms: int) -> None:
    """As if the last admission step ran ``ms`` ago (Redis clock), with no carry."""
    now = await redis_ms(client)
    await client.hset(queue.keys(EV).queue, mapping={"last_ms": now - ms, "carry": 0})


async def test_join_needs_a_configured_queue(redis_client: aredis.Redis, queue: QueueStore) -> None:
    with pytest.raises(Unavailable):
        await queue.join(EV, "a")
    assert not await queue.is_configured(EV)
    assert await redis_client.hlen(queue.keys(EV).entries) == 0


async def test_join_outside_the_sale_window(redis_client: aredis.Redis, queue: QueueStore) -> None:
    await queue.configure(EV, make_spec(prequeue_in=3600, opens_in=7200))
    assert await queue.is_configured(EV)
    with pytest.raises(SaleNotOpen):
        await queue.join(EV, "a")
    await queue.configure(EV, make_spec(prequeue_in=-7200, opens_in=-3600, closes_in=-1))
    with pytest.raises(SaleNotOpen):
        await queue.join(EV, "a")
    assert await redis_client.hlen(queue.keys(EV).entries) == 0
    assert await queue.prequeue(EV) == []


async def test_prequeue_draw_and_later_joins(redis_client: aredis.Redis, queue: QueueStore) -> None:
    await queue.configure(EV, make_spec(prequeue_in=-60, opens_in=3600))
    for e in ("a", "b", "c"):
        joined = await queue.join(EV, e)
        assert (joined.number, joined.new) == (0, True)
    joined = await queue.join(EV, "a")
    assert (joined.number, joined.new) == (0, False)
    assert sorted(await queue.prequeue(EV)) == ["a", "b", "c"]
    assert await numbers(redis_client, queue) == {"a": 0, "b": 0, "c": 0}
    assert await queue.counts(EV) == {"waiting": 3, "admitted": 0, "active": 0, "prequeue": 3}
    with pytest.raises(SaleNotOpen):  # drawing before the opening
        await queue.draw(EV, ["c", "a", "b"])
    assert not await queue.is_drawn(EV)
    view = await queue.view(EV, "b")
    assert (view.number, view.drawn, view.serving, view.next) == (0, False, 0, 0)

    # The sale opens: nobody gets a number before the draw.
    await queue.configure(EV, make_spec(prequeue_in=-60, opens_in=-1))
    for _ in range(2):
        with pytest.raises(DrawPending):
            await queue.join(EV, "d")
    assert "d" not in await numbers(redis_client, queue)
    assert (await queue.admit(EV)).admitted == 0  # nothing to admit before the draw

    for stale in (["a", "b"], ["a", "b", "c", "d"], ["a", "a", "c"], ["a", "b", "x"], []):
        with pytest.raises(DrawStale):
            await queue.draw(EV, stale)
    assert not await queue.is_drawn(EV)
    assert await numbers(redis_client, queue) == {"a": 0, "b": 0, "c": 0}

    assert await queue.draw(EV, ["c", "a", "b"]) is True
    assert await queue.is_drawn(EV)
    assert await numbers(redis_client, queue) == {"c": 1, "a": 2, "b": 3}
    assert await redis_client.hgetall(queue.keys(EV).numbers) == {"1": "c", "2": "a", "3": "b"}
    assert await queue.prequeue(EV) == []
    # Once only: a second draw (any order) changes nothing.
    assert await queue.draw(EV, ["a", "b", "c"]) is False
    assert await queue.draw(EV, []) is False
    assert await numbers(redis_client, queue) == {"c": 1, "a": 2, "b": 3}

    joined = await queue.join(EV, "a")
    assert (joined.number, joined.new) == (2, False)
    joined = await queue.join(EV, "d")
    assert (joined.number, joined.new) == (4, True)
    joined = await queue.join(EV, "e")
    assert (joined.number, joined.new) == (5, True)
    joined = await queue.join(EV, "d")
    assert (joined.number, joined.new) == (4, False)
    assert await queue.counts(EV) == {"waiting": 5, "admitted": 0, "active": 0, "prequeue": 0}
    assert await redis_client.hget(queue.keys(EV).queue, "next") == "5"


async def test_a_pause_admits_at_the_rate_not_in_a_burst(
    redis_client: aredis.Redis, queue: QueueStore
) -> None:
    await open_queue(redis_client, queue, 200, rate=60, max_active=1000)
    # A minute with no admission step (every process down, Redis stalled): the
    # step after it counts five seconds of budget (one a second), not sixty.
    await budget_since(redis_client, queue, 60_000)
    r = await queue.admit(EV)
    assert (r.admitted, r.serving) == (5, 5)


async def test_admit_rate_times_elapsed(redis_client: aredis.Redis, queue: QueueStore) -> None:
    entries = await open_queue(redis_client, queue, 20, rate=600, max_active=100)
    keys = queue.keys(EV)
    # 600 a minute is 10 a second: 1.05 s since the last step admits exactly 10.
    await budget_since(redis_client, queue, 1050)
    before = await redis_ms(redis_client)
    r = await queue.admit(EV)
    after = await redis_ms(redis_client)
    assert (r.admitted, r.serving, r.next, r.active) == (10, 10, 20, 10)
    active = dict(await redis_client.zrange(keys.active, 0, -1, withscores=True))
    assert set(active) == set(entries[:10])  # numbers 1..10, in queue order (I5)
    for expiry in active.values():
        assert before + 600_000 <= expiry <= after + 600_000
    last = int(await redis_client.hget(keys.queue, "last_ms") or 0)
    assert before <= last <= after
    # Calling it again at once admits nobody extra.
    r = await queue.admit(EV)
    assert (r.admitted, r.serving, r.active) == (0, 10, 10)
    r = await queue.admit(EV)
    assert (r.admitted, r.serving, r.active) == (0, 10, 10)
    # 0.55 s later: 5 more; the fractional rest is carried.
    await budget_since(redis_client, queue, 550)
    r = await queue.admit(EV)
    assert (r.admitted, r.serving, r.active) == (5, 15, 15)
    carry = float(await redis_client.hget(keys.queue, "carry") or "nan")
    assert 0.5 <= carry < 1
    # A long idle time admits only who is waiting; at most one second's worth is banked.
    await budget_since(redis_client, queue, 60_000)
    r = await queue.admit(EV)
    assert (r.admitted, r.serving, r.next, r.active) == (5, 20, 20, 20)
    assert float(await redis_client.hget(keys.queue, "carry") or "nan") == 10
    assert await queue.counts(EV) == {"waiting": 0, "admitted": 20, "active": 20, "prequeue": 0}


async def test_admit_is_capped_by_free_slots(redis_client: aredis.Redis, queue: QueueStore) -> None:
    entries = await open_queue(redis_client, queue, 10, rate=600, max_active=3)
    keys = queue.keys(EV)
    await budget_since(redis_client, queue, 1050)
    r = await queue.admit(EV)
    assert (r.admitted, r.serving, r.next, r.active) == (3, 3, 10, 3)
    await budget_since(redis_client, queue, 1050)  # budget, but no free slot
    r = await queue.admit(EV)
    assert (r.admitted, r.serving, r.active) == (0, 3, 3)

    # Two sessions run out: their slots go to the next two numbers.
    now = await redis_ms(redis_client)
    await redis_client.zadd(keys.active, {entries[0]: now - 1, entries[1]: now - 1})
    r = await queue.admit(EV)
    assert (r.admitted, r.serving, r.active) == (2, 5, 3)
    assert set(await redis_client.zrange(keys.active, 0, -1)) == set(entries[2:5])

    # Leaving frees a slot at once; leaving twice frees nothing more.
    assert await queue.leave(EV, entries[2]) is True
    assert await queue.leave(EV, entries[2]) is False
    assert await queue.leave(EV, "nobody") is False
    assert (await queue.counts(EV))["active"] == 2
    await budget_since(redis_client, queue, 1050)
    r = await queue.admit(EV)
    assert (r.admitted, r.serving, r.active) == (1, 6, 3)
    assert set(await redis_client.zrange(keys.active, 0, -1)) == set(entries[3:6])
    assert await queue.counts(EV) == {"waiting": 4, "admitted": 6, "active": 3, "prequeue": 0}


async def test_status_view(redis_client: aredis.Redis, queue: QueueStore) -> None:
    entries = await open_queue(redis_client, queue, 4, rate=120, max_active=10)
    await budget_since(redis_client, queue, 1250)  # 2 a second: 2 admitted
    assert (await queue.admit(EV)).admitted == 2

    before = await redis_ms(redis_client)
    waiting = await queue.view(EV, entries[3])
    after = await redis_ms(redis_client)
    assert (
        waiting.number,
        waiting.serving,
        waiting.next,
        waiting.session_expires_ms,
        waiting.sold_out,
        waiting.drawn,
        waiting.rate_per_minute,
    ) == (4, 2, 4, 0, False, True, 120)
    assert before <= waiting.now_ms <= after

    admitted = await queue.view(EV, entries[0])
    score = await redis_client.zscore(queue.keys(EV).active, entries[0])
    assert admitted.number == 1 and admitted.session_expires_ms == score
    assert admitted.session_expires_ms > admitted.now_ms

    unknown = await queue.view(EV, "nobody")
    assert (unknown.number, unknown.serving, unknown.next) == (-1, 2, 4)


async def test_join_refused_when_sold_out(
    redis_client: aredis.Redis, queue: QueueStore, settings: Settings
) -> None:
    inventory = InventoryStore(redis_client, settings.redis_prefix)
    spec = make_spec(ga=2, rows={}, prequeue_in=-60, opens_in=3600)
    await inventory.rebuild(EV, spec, [])
    await queue.configure(EV, spec)
    assert (await queue.join(EV, "early")).number == 0
    assert await inventory.commit_sold(EV, "o1", "", Sale("FLOOR", (), 2, "")) is True
    assert (await inventory.counts(EV)).available == 0
    with pytest.raises(SoldOut):
        await queue.join(EV, "late")
    view = await queue.view(EV, "early")
    assert view.sold_out is True
    joined = await queue.join(EV, "early")  # a known entry keeps its place
    assert (joined.number, joined.new) == (0, False)

    # After the opening, too; and no longer once a refund frees places.
    await queue.configure(EV, make_spec(ga=2, rows={}, prequeue_in=-60, opens_in=-1))
    assert await queue.draw(EV, ["early"]) is True
    with pytest.raises(SoldOut):
        await queue.join(EV, "late")
    assert await inventory.refund(EV, "o1", Sale("FLOOR", (), 2, "")) is True
    assert (await queue.view(EV, "early")).sold_out is False
    joined = await queue.join(EV, "late")
    assert (joined.number, joined.new) == (2, True)


# ------------------------------------------------------------ shopper presence


async def _ga_sale(
    client: aredis.Redis, queue: QueueStore, settings: Settings, waiting: int, **spec: int
) -> tuple[InventoryStore, list[str]]:
    """An open queue over an event of ``ga`` GA places (no seats)."""
    inventory = InventoryStore(client, settings.redis_prefix)
    await inventory.rebuild(EV, make_spec(rows={}, **spec), [])
    return inventory, await open_queue(client, queue, waiting, rows={}, **spec)


async def _step(client: aredis.Redis, queue: QueueStore, seconds: float = 1.0) -> AdmitResult:
    """``seconds`` pass (see clock.pass_time), then an admission step."""
    await pass_time(client, queue.keys(EV), int(seconds * 1000))
    return await queue.admit(EV)


async def test_a_shopper_unseen_past_the_grace_holding_nothing_gives_the_slot_back(
    redis_client: aredis.Redis, queue: QueueStore, settings: Settings
) -> None:
    inventory, entries = await _ga_sale(redis_client, queue, settings, 6, ga=10, max_active=2)
    keys = queue.keys(EV)
    r = await _step(redis_client, queue)
    assert (r.admitted, r.active) == (2, 2)
    holder, gone = entries[:2]
    await inventory.hold(EV, "h1", holder, HoldRequest("ga", "FLOOR", 1))
    session = await redis_client.zscore(keys.active, gone)

    # 19 s unseen: still shoppers, the slots are taken.
    r = await _step(redis_client, queue, 19)
    assert (r.admitted, r.parked, r.active) == (0, 0, 2)
    # Past the 20 s grace: the one holding nothing is parked, its slot goes on.
    r = await _step(redis_client, queue, 2)
    assert (r.admitted, r.parked, r.active) == (1, 1, 2)
    assert set(await redis_client.zrange(keys.active, 0, -1)) == {holder, entries[2]}
    away = await redis_client.zscore(keys.away, gone)
    assert away is not None and session is not None and away == session - 21_000

    # Coming back (the page's heartbeat) gives the session back while it lasts.
    expires = await queue.presence(EV, gone)
    assert expires == away
    assert await redis_client.zscore(keys.active, gone) == away
    assert await redis_client.zscore(keys.away, gone) is None
    assert await queue.presence(EV, "nobody") == 0


async def test_a_parked_shopper_may_still_hold_while_places_remain(
    redis_client: aredis.Redis, queue: QueueStore, settings: Settings
) -> None:
    inventory, entries = await _ga_sale(redis_client, queue, settings, 3, ga=3, max_active=3)
    keys = queue.keys(EV)
    assert (await _step(redis_client, queue)).admitted == 3
    r = await _step(redis_client, queue, 21)
    assert (r.parked, r.active) == (3, 0)
    hold = await inventory.hold(EV, "h1", entries[0], HoldRequest("ga", "FLOOR", 2))
    assert hold.quantity == 2
    assert await redis_client.zscore(keys.active, entries[0]) is not None  # a shopper again
    # The status poll brings one back too; a session that ended does not.
    view = await queue.view(EV, entries[1])
    assert view.session_expires_ms > view.now_ms
    await pass_time(redis_client, keys, 600_000)
    with pytest.raises(Forbidden):
        await inventory.hold(EV, "h2", entries[2], HoldRequest("ga", "FLOOR", 1))


async def test_a_holder_is_not_parked_until_a_grace_after_the_hold_ends(
    redis_client: aredis.Redis, queue: QueueStore, settings: Settings
) -> None:
    inventory, entries = await _ga_sale(redis_client, queue, settings, 1, ga=5)
    keys = queue.keys(EV)
    await _step(redis_client, queue)
    await inventory.hold(EV, "h1", entries[0], HoldRequest("ga", "FLOOR", 1))
    for _ in range(4):  # 100 s unseen while holding
        assert (await _step(redis_client, queue, 25)).parked == 0
    await inventory.release(EV, "h1", entries[0])
    assert (await _step(redis_client, queue, 19)).parked == 0
    assert (await _step(redis_client, queue, 22)).parked == 1
    assert await redis_client.zcard(keys.active) == 0


async def test_without_shopper_presence_nobody_is_parked(
    redis_client: aredis.Redis, settings: Settings
) -> None:
    queue = QueueStore(redis_client, settings.redis_prefix, shopper_presence=False)
    await _ga_sale(redis_client, queue, settings, 4, ga=2, max_active=10)
    assert (await _step(redis_client, queue)).admitted == 2
    r = await _step(redis_client, queue, 300)
    assert (r.admitted, r.parked, r.active) == (0, 0, 2)


async def test_stall_seconds_count_places_free_behind_full_caps_not_the_pacing(
    redis_client: aredis.Redis, queue: QueueStore, settings: Settings
) -> None:
    await _ga_sale(redis_client, queue, settings, 5, ga=2, rate=30, max_active=10)
    keys = queue.keys(EV)

    async def stall() -> list[int]:
        raw = await redis_client.hmget(keys.queue, ["stall_ms", "stall_run_ms", "stall_longest_ms"])
        return [int(v or 0) for v in raw]

    # 30 a minute: one fan every two seconds; a step with no budget is pacing.
    r = await _step(redis_client, queue)
    assert r.admitted == 0 and r.stall_ms == 0
    assert (await _step(redis_client, queue)).admitted == 1
    assert (await _step(redis_client, queue, 2)).admitted == 1
    # Two places, two shoppers who hold nothing yet: the stock cap is 0.
    r = await _step(redis_client, queue, 2)
    assert r.admitted == 0 and 2000 <= r.stall_ms < 2500
    r = await _step(redis_client, queue, 5)
    assert 7000 <= r.stall_ms < 7500
    again = await queue.admit(EV)  # twice: nobody more, and only the real time between
    assert again == AdmitResult(0, 2, 5, 2, 0, 0, again.stall_ms)
    assert r.stall_ms <= again.stall_ms < r.stall_ms + 500
    total, run, longest = await stall()
    assert total == run == longest == again.stall_ms
    # Both leave unseen: parked after the grace, the stall ends.
    r = await _step(redis_client, queue, 14)
    assert (r.parked, r.admitted, r.stall_ms) == (2, 2, 0)
    total, run, longest = await stall()
    assert run == 0 and longest == total >= 7000
