"""Every inventory Lua script against a real Redis.

hold, release, begin_checkout, abort_checkout, commit_sold, refund and rebuild,
driven through ``InventoryStore``. After each step the meta counts are checked
against exact numbers and against the seat marks, GA counters and hold records
they summarize (``check``).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aredis

from onsale.errors import (
    CheckoutInProgress,
    Forbidden,
    HoldExpired,
    LimitExceeded,
    NotFound,
    RateLimited,
    SeatsUnavailable,
    Unavailable,
)
from onsale.events.policy import (
    Admission,
    Category,
    EventSpec,
    Limits,
    Row,
    SaleWindow,
    Section,
)
from onsale.inventory.policy import HoldRequest
from onsale.inventory.store import Hold, InventoryStore, Sale
from onsale.settings import Settings

EV = "ev1"


# --------------------------------------------------------------------------- helpers


def make_spec(
    *,
    ga: int = 10,
    rows: dict[str, int] | None = None,
    hold_seconds: int = 300,
    per_order: int = 6,
    per_buyer: int = 6,
    prequeue_in: float = -3600,
    opens_in: float = -60,
    closes_in: float = 86400,
    rate: int = 600,
    max_active: int = 200,
    session_seconds: int = 600,
) -> EventSpec:
    """A GA section FLOOR (``ga`` places, none if 0) and a seated BALC (``rows``)."""
    now = datetime.now(UTC)
    rows = {"A": 5, "B": 5} if rows is None else rows
    sections: list[Section] = []
    if ga:
        sections.append(Section("FLOOR", "ga", "STD", ga))
    if rows:
        row_list = tuple(Row(r, n) for r, n in rows.items())
        sections.append(Section("BALC", "seated", "STD", sum(rows.values()), row_list))
    return EventSpec(
        name="Night show",
        starts_at=now + timedelta(days=10),
        sale=SaleWindow(
            prequeue_opens_at=now + timedelta(seconds=prequeue_in),
            opens_at=now + timedelta(seconds=opens_in),
            closes_at=now + timedelta(seconds=closes_in),
        ),
        admission=Admission(
            rate_per_minute=rate, max_active=max_active, session_seconds=session_seconds
        ),
        hold_seconds=hold_seconds,
        limits=Limits(per_order=per_order, per_buyer=per_buyer),
        categories=(Category("STD", "Standard", 2500, 100, "EUR"),),
        sections=tuple(sections),
    )


def seats(*ids: str) -> HoldRequest:
    return HoldRequest("seats", ids[0].rsplit("-", 2)[0], len(ids), tuple(ids))


def ga(quantity: int, section: str = "FLOOR") -> HoldRequest:
    return HoldRequest("ga", section, quantity)


def best(quantity: int, section: str = "BALC") -> HoldRequest:
    return HoldRequest("best", section, quantity)


async def redis_ms(client: aredis.Redis) -> int:
    """Now on Redis' clock, the one every script uses."""
    sec, usec = await client.time()
    return int(sec) * 1000 + int(usec) // 1000


async def shop(client: aredis.Redis, store: InventoryStore, entry: str, ms: int = 600_000) -> None:
    """Give ``entry`` a live shopping session (as admission does)."""
    await client.zadd(store.keys(EV).active, {entry: await redis_ms(client) + ms})


async def expire_now(client: aredis.Redis, store: InventoryStore, hold_id: str) -> None:
    """Make a hold's time run out (its score in the expiry set is in the past)."""
    await client.zadd(store.keys(EV).expiries, {hold_id: await redis_ms(client) - 1})


async def poke(store: InventoryStore) -> None:
    """Run a script (which reclaims expired holds first) without changing anything."""
    with pytest.raises(NotFound):
        await store.release(EV, "hold_nobody", "")


async def snapshot(client: aredis.Redis, store: InventoryStore) -> dict[str, Any]:
    """Every key of the event, read according to its type."""
    out: dict[str, Any] = {}
    for key in store.keys(EV).all():
        kind = await client.type(key)
        if kind == "hash":
            out[key] = await client.hgetall(key)
        elif kind == "zset":
            out[key] = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            out[key] = await client.smembers(key)
        elif kind == "string":
            out[key] = await client.get(key)
    return out


async def check(
    client: aredis.Redis,
    store: InventoryStore,
    *,
    held: int,
    sold: int,
    capacity: int | None = None,
    strict: bool = True,
) -> None:
    """The meta counts are exactly ``held``/``sold`` and agree with what they count.

    ``strict``: every seat of every live hold is marked as held by it (false only
    after commit_sold took a seat over from another hold).
    """
    counts = await store.counts(EV)
    assert (counts.held, counts.sold) == (held, sold)
    if capacity is not None:
        assert counts.capacity == capacity
    assert counts.ready
    marks = await store.seat_marks(EV)
    ga_counts = await store.ga_counts(EV)
    holds = {h.hold_id: h for h in await store.live_holds(EV)}
    seat_held = sum(1 for v in marks.values() if v.startswith("H:"))
    seat_sold = sum(1 for v in marks.values() if v.startswith("S:"))
    assert seat_held + sum(c["held"] for c in ga_counts.values()) == held
    assert seat_sold + sum(c["sold"] for c in ga_counts.values()) == sold
    for seat, mark in marks.items():
        assert mark == "F" or mark[:2] in ("H:", "S:"), (seat, mark)
        if mark.startswith("H:"):
            assert seat in holds[mark[2:]].seats
    for section, c in ga_counts.items():
        assert c["held"] == sum(
            h.quantity for h in holds.values() if not h.seats and h.section == section
        )
        assert c["held"] >= 0 and c["sold"] >= 0
    for h in holds.values():
        if h.seats:
            assert h.quantity == len(h.seats)
            if strict:
                assert all(marks[s] == f"H:{h.hold_id}" for s in h.seats), h
    keys = store.keys(EV)
    assert set(await client.zrange(keys.expiries, 0, -1)) == set(holds)
    by_entry: dict[str, str] = await client.hgetall(keys.by_entry)
    assert {e: hid for e, hid in by_entry.items()} == {
        h.entry: h.hold_id for h in holds.values() if h.entry
    }


async def states_of(store: InventoryStore, *ids: str) -> list[str]:
    marks = await store.seat_marks(EV)
    return [marks[i] for i in ids]


async def record(client: aredis.Redis, store: InventoryStore, hold_id: str) -> dict[str, Any]:
    raw = await client.hget(store.keys(EV).holds, hold_id)
    assert raw is not None
    parsed: dict[str, Any] = json.loads(raw)
    return parsed


@pytest.fixture
def store(redis_client: aredis.Redis, settings: Settings) -> InventoryStore:
    return InventoryStore(redis_client, settings.redis_prefix)


# --------------------------------------------------------------------------- hold


async def test_hold_refused_until_the_inventory_is_built(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await shop(redis_client, store, "a")
    with pytest.raises(Unavailable):
        await store.hold(EV, "h1", "a", seats("BALC-A-1"))
    with pytest.raises(Unavailable):
        await store.hold(EV, "h1", "", ga(1), boxoffice=True)
    with pytest.raises(Unavailable):
        await store.begin_checkout(EV, "h1", "a", 60_000)
    counts = await store.counts(EV)
    assert (counts.ready, counts.held, counts.sold, counts.capacity) == (False, 0, 0, 0)
    assert await redis_client.hlen(store.keys(EV).holds) == 0
    assert await redis_client.exists(store.keys(EV).seats) == 0

    assert await store.rebuild(EV, make_spec(), []) == "built"
    await store.hold(EV, "h1", "a", seats("BALC-A-1"))
    await check(redis_client, store, held=1, sold=0, capacity=20)


async def test_rebuild_lays_out_every_place(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    assert await store.rebuild(EV, make_spec(ga=7, rows={"A": 3, "BB": 2}), []) == "built"
    assert await store.seat_states(EV) == {
        "BALC-A-1": "free",
        "BALC-A-2": "free",
        "BALC-A-3": "free",
        "BALC-BB-1": "free",
        "BALC-BB-2": "free",
    }
    assert await store.ga_counts(EV) == {"FLOOR": {"cap": 7, "held": 0, "sold": 0}}
    meta = await redis_client.hgetall(store.keys(EV).meta)
    assert meta == {
        "ready": "1",
        "capacity": "12",
        "held": "0",
        "sold": "0",
        "per_order": "6",
        "per_entry": "6",
        "hold_ms": "300000",
    }
    await check(redis_client, store, held=0, sold=0, capacity=12)


async def test_chosen_seats_are_all_or_nothing(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(), [])
    for e in ("a", "b"):
        await shop(redis_client, store, e)
    before = await redis_ms(redis_client)
    h = await store.hold(EV, "h1", "a", seats("BALC-A-1", "BALC-A-2"))
    after = await redis_ms(redis_client)
    assert (h.hold_id, h.entry, h.section, h.seats, h.quantity, h.state) == (
        "h1",
        "a",
        "BALC",
        ("BALC-A-1", "BALC-A-2"),
        2,
        "held",
    )
    assert before + 300_000 <= h.expires_ms <= after + 300_000
    rec = await record(redis_client, store, "h1")
    assert rec["x"] == rec["hx"] == h.expires_ms
    assert await redis_client.zscore(store.keys(EV).expiries, "h1") == h.expires_ms
    await check(redis_client, store, held=2, sold=0, capacity=20)

    # One taken seat among three: refused, naming exactly that seat; nothing held.
    with pytest.raises(SeatsUnavailable) as exc:
        await store.hold(EV, "h2", "b", seats("BALC-A-3", "BALC-A-2", "BALC-B-1"))
    assert exc.value.details == {"unavailable": ["BALC-A-2"]}
    assert await states_of(store, "BALC-A-3", "BALC-B-1") == ["F", "F"]
    assert await redis_client.hget(store.keys(EV).holds, "h2") is None
    await check(redis_client, store, held=2, sold=0)

    # Two taken seats, and a seat that does not exist: all named, in request order.
    with pytest.raises(SeatsUnavailable) as exc:
        await store.hold(EV, "h2", "b", seats("BALC-A-2", "BALC-B-2", "BALC-Z-9", "BALC-A-1"))
    assert exc.value.details == {"unavailable": ["BALC-A-2", "BALC-Z-9", "BALC-A-1"]}
    await check(redis_client, store, held=2, sold=0)

    h2 = await store.hold(EV, "h2", "b", seats("BALC-A-3", "BALC-B-1"))
    assert h2.seats == ("BALC-A-3", "BALC-B-1")
    assert await states_of(store, "BALC-A-1", "BALC-A-3", "BALC-B-1", "BALC-B-2") == [
        "H:h1",
        "H:h2",
        "H:h2",
        "F",
    ]
    await check(redis_client, store, held=4, sold=0)


async def test_ga_quantity_up_to_capacity(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(ga=10, per_order=20, per_buyer=20), [])
    for e in ("a", "b", "c"):
        await shop(redis_client, store, e)
    with pytest.raises(SeatsUnavailable) as exc:
        await store.hold(EV, "h0", "a", ga(11))
    assert exc.value.details == {"available": 10}
    await check(redis_client, store, held=0, sold=0, capacity=20)

    h = await store.hold(EV, "h1", "a", ga(6))
    assert (h.section, h.seats, h.quantity, h.state) == ("FLOOR", (), 6, "held")
    assert json.loads(await redis_client.hget(store.keys(EV).holds, "h1") or "")["seats"] == []
    await check(redis_client, store, held=6, sold=0)
    with pytest.raises(SeatsUnavailable) as exc:
        await store.hold(EV, "h2", "b", ga(5))
    assert exc.value.details == {"available": 4}
    await store.hold(EV, "h2", "b", ga(4))
    assert await store.ga_counts(EV) == {"FLOOR": {"cap": 10, "held": 10, "sold": 0}}
    await check(redis_client, store, held=10, sold=0)
    with pytest.raises(SeatsUnavailable) as exc:
        await store.hold(EV, "h3", "c", ga(1))
    assert exc.value.details == {"available": 0}
    # A GA quantity in a section that is not GA (or does not exist) finds no room.
    with pytest.raises(SeatsUnavailable):
        await store.hold(EV, "h3", "c", ga(1, "BALC"))
    with pytest.raises(SeatsUnavailable):
        await store.hold(EV, "h3", "c", ga(1, "NOPE"))
    await check(redis_client, store, held=10, sold=0)
    assert await store.release(EV, "h2", "b") == 4
    await store.hold(EV, "h3", "c", ga(4))
    await check(redis_client, store, held=10, sold=0)


async def test_best_available_picks_the_middle_and_avoids_lone_seats(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(ga=0, rows={"A": 10, "B": 6, "C": 4}), [])
    for e in ("a", "b", "c", "d"):
        await shop(redis_client, store, e)
    h = await store.hold(EV, "h1", "a", best(2))
    assert h.seats == ("BALC-A-5", "BALC-A-6")
    assert h.quantity == 2 and h.section == "BALC"
    await check(redis_client, store, held=2, sold=0, capacity=20)
    # Row A now has runs 1-4 and 7-10: four seats fit in one of them, nearest the middle
    # at equal distance is the first.
    h = await store.hold(EV, "h2", "b", best(4))
    assert h.seats == ("BALC-A-1", "BALC-A-2", "BALC-A-3", "BALC-A-4")
    # Row A keeps 7-10: three seats there would leave a lone seat, so row B is used;
    # B-1..3 and B-4..6 are equally near the middle: the first wins.
    h = await store.hold(EV, "h3", "c", best(3))
    assert h.seats == ("BALC-B-1", "BALC-B-2", "BALC-B-3")
    await check(redis_client, store, held=9, sold=0)
    # Nothing in any row fits 5 together: refused, nothing held.
    with pytest.raises(SeatsUnavailable):
        await store.hold(EV, "h4", "d", best(5))
    # Two fit in row A's 7-10 without a lone seat: 7-8 is nearer the middle than 9-10.
    h = await store.hold(EV, "h4", "d", best(2))
    assert h.seats == ("BALC-A-7", "BALC-A-8")
    await check(redis_client, store, held=11, sold=0)
    # Best available in a GA section finds nothing (no layout).
    with pytest.raises(SeatsUnavailable):
        await store.hold(EV, "h5", "d", best(1, "FLOOR"))
    await check(redis_client, store, held=11, sold=0)


async def test_a_new_hold_replaces_the_old_one(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(ga=10), [])
    for e in ("a", "b"):
        await shop(redis_client, store, e)
    await store.hold(EV, "h1", "a", seats("BALC-A-1", "BALC-A-2"))
    await store.hold(EV, "h2", "a", seats("BALC-B-1"))
    assert await states_of(store, "BALC-A-1", "BALC-A-2", "BALC-B-1") == ["F", "F", "H:h2"]
    assert await redis_client.hget(store.keys(EV).holds, "h1") is None
    assert await redis_client.hget(store.keys(EV).by_entry, "a") == "h2"
    await check(redis_client, store, held=1, sold=0)

    # The new hold may take the old hold's own seats.
    await store.hold(EV, "h3", "a", seats("BALC-B-1", "BALC-B-2"))
    assert await states_of(store, "BALC-B-1", "BALC-B-2") == ["H:h3", "H:h3"]
    await check(redis_client, store, held=2, sold=0)

    # A failing new hold keeps the old one.
    await store.hold(EV, "hb", "b", seats("BALC-A-3"))
    with pytest.raises(SeatsUnavailable) as exc:
        await store.hold(EV, "h4", "a", seats("BALC-A-3", "BALC-A-4"))
    assert exc.value.details == {"unavailable": ["BALC-A-3"]}
    assert await states_of(store, "BALC-B-1", "BALC-B-2", "BALC-A-4") == ["H:h3", "H:h3", "F"]
    assert await redis_client.hget(store.keys(EV).by_entry, "a") == "h3"
    await check(redis_client, store, held=3, sold=0)

    # From seats to GA, and GA to GA: the old places count as available to the owner.
    await store.hold(EV, "h5", "a", ga(5))
    await store.hold(EV, "hb2", "b", ga(5))
    await check(redis_client, store, held=10, sold=0)
    assert await states_of(store, "BALC-B-1", "BALC-A-3") == ["F", "F"]
    h = await store.hold(EV, "h6", "a", ga(5))
    assert h.quantity == 5
    await check(redis_client, store, held=10, sold=0)
    with pytest.raises(SeatsUnavailable) as exc:
        await store.hold(EV, "h7", "a", ga(6))
    assert exc.value.details == {"available": 5}
    assert await redis_client.hget(store.keys(EV).by_entry, "a") == "h6"
    assert await store.ga_counts(EV) == {"FLOOR": {"cap": 10, "held": 10, "sold": 0}}
    await check(redis_client, store, held=10, sold=0)
    # Best available counts the owner's seats as free.
    await store.hold(EV, "h8", "a", seats("BALC-A-1", "BALC-A-2", "BALC-A-3"))
    await store.hold(EV, "hb3", "b", seats("BALC-A-4", "BALC-A-5"))
    await store.hold(EV, "h9", "a", best(3))
    assert await states_of(store, "BALC-A-1", "BALC-A-2", "BALC-A-3") == ["H:h9"] * 3
    await check(redis_client, store, held=5, sold=0)


async def test_a_ga_hold_replaced_in_its_section_moves_only_the_difference(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    """The in-place path of hold.lua: same entry, same GA section."""
    await store.rebuild(EV, make_spec(ga=10), [])
    for e in ("a", "b"):
        await shop(redis_client, store, e)
    await store.hold(EV, "hb", "b", ga(5))
    previous = "h0"
    await store.hold(EV, previous, "a", ga(3))
    for i, quantity in enumerate((4, 2, 2, 5)):  # up, down, the same, up to all that is left
        h = await store.hold(EV, f"h{i + 1}", "a", ga(quantity))
        # the short answer of the script and the stored record agree
        assert h == Hold.from_record(json.dumps(await record(redis_client, store, h.hold_id)))
        assert (h.section, h.seats, h.quantity, h.state) == ("FLOOR", (), quantity, "held")
        assert await redis_client.hget(store.keys(EV).holds, previous) is None
        assert await redis_client.zscore(store.keys(EV).expiries, previous) is None
        await check(redis_client, store, held=5 + quantity, sold=0)
        previous = h.hold_id
    with pytest.raises(SeatsUnavailable) as exc:
        await store.hold(EV, "h9", "a", ga(6))
    assert exc.value.details == {"available": 5}
    await check(redis_client, store, held=10, sold=0)
    assert await redis_client.hget(store.keys(EV).by_entry, "a") == previous
    # and the hold it left behind is released as any other
    assert await store.release(EV, previous, "a") == 5
    await check(redis_client, store, held=5, sold=0)


async def test_the_scripts_short_answer_is_the_stored_hold(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(ga=10), [])
    await shop(redis_client, store, "a")
    for i, request in enumerate((seats("BALC-A-2", "BALC-A-1"), best(3), ga(2), ga(1))):
        h = await store.hold(EV, f"h{i}", "a", request)
        assert h == Hold.from_record(json.dumps(await record(redis_client, store, h.hold_id)))
        assert h.quantity == request.quantity and h.entry == "a"
    boxoffice = await store.hold(EV, "hx", "", seats("BALC-B-1"), boxoffice=True)
    assert boxoffice.seats == ("BALC-B-1",) and boxoffice.entry == ""
    assert boxoffice == Hold.from_record(json.dumps(await record(redis_client, store, "hx")))


async def test_limits_per_order_and_per_entry(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(ga=30, per_order=4, per_buyer=6), [])
    await shop(redis_client, store, "a")
    with pytest.raises(LimitExceeded) as exc:
        await store.hold(EV, "h1", "a", ga(5))
    assert exc.value.details == {"per_order": 4}
    with pytest.raises(LimitExceeded):
        await store.hold(EV, "h1", "a", seats(*(f"BALC-{r}-{n}" for r in "AB" for n in (1, 2, 3))))
    await check(redis_client, store, held=0, sold=0)

    h = await store.hold(EV, "h1", "a", ga(4))
    await store.begin_checkout(EV, "h1", "a", 60_000)
    assert await store.commit_sold(EV, "o1", "h1", Sale("FLOOR", (), 4, "a"))
    assert await redis_client.hget(store.keys(EV).bought, "a") == "4"
    await check(redis_client, store, held=0, sold=4)
    assert h.quantity == 4

    await shop(redis_client, store, "a")
    with pytest.raises(LimitExceeded) as exc:
        await store.hold(EV, "h2", "a", ga(3))
    assert exc.value.details == {"per_entry": 6, "bought": 4}
    with pytest.raises(LimitExceeded):
        await store.hold(EV, "h2", "a", seats("BALC-A-1", "BALC-A-2", "BALC-A-3"))
    await store.hold(EV, "h2", "a", seats("BALC-A-1", "BALC-A-2"))
    await check(redis_client, store, held=2, sold=4)

    # The box office has no per-order or per-entry limit (but the inventory's).
    await store.hold(EV, "bo1", "", ga(20), boxoffice=True)
    await check(redis_client, store, held=22, sold=4)
    with pytest.raises(SeatsUnavailable):
        await store.hold(EV, "bo2", "", ga(7), boxoffice=True)
    await store.hold(EV, "bo2", "", ga(6), boxoffice=True)
    await check(redis_client, store, held=28, sold=4)
    assert await redis_client.hget(store.keys(EV).by_entry, "") is None


async def test_a_hold_needs_a_live_shopping_session(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(), [])
    with pytest.raises(Forbidden):
        await store.hold(EV, "h1", "a", seats("BALC-A-1"))
    await shop(redis_client, store, "a", ms=-1)  # a session that ended
    with pytest.raises(Forbidden):
        await store.hold(EV, "h1", "a", ga(1))
    # The box office entry "" is not a fan: without the flag it has no session either.
    with pytest.raises(Forbidden):
        await store.hold(EV, "h1", "", ga(1))
    await check(redis_client, store, held=0, sold=0)
    assert set((await store.seat_states(EV)).values()) == {"free"}
    await shop(redis_client, store, "a")
    await store.hold(EV, "h1", "a", ga(1))
    await check(redis_client, store, held=1, sold=0)


# --------------------------------------------------------------------------- release


async def test_release(redis_client: aredis.Redis, store: InventoryStore) -> None:
    await store.rebuild(EV, make_spec(), [])
    for e in ("a", "b"):
        await shop(redis_client, store, e)
    await store.hold(EV, "h1", "a", seats("BALC-A-1", "BALC-A-2"))
    with pytest.raises(Forbidden):
        await store.release(EV, "h1", "b")
    assert await states_of(store, "BALC-A-1", "BALC-A-2") == ["H:h1", "H:h1"]
    await check(redis_client, store, held=2, sold=0)
    assert await store.release(EV, "h1", "a") == 2
    assert await states_of(store, "BALC-A-1", "BALC-A-2") == ["F", "F"]
    assert await redis_client.hget(store.keys(EV).by_entry, "a") is None
    await check(redis_client, store, held=0, sold=0)
    with pytest.raises(NotFound):
        await store.release(EV, "h1", "a")
    # The freed seats are on sale at once.
    await store.hold(EV, "h2", "b", seats("BALC-A-1", "BALC-A-2"))
    await check(redis_client, store, held=2, sold=0)

    # GA, and the box office's owner-less release.
    await store.hold(EV, "h3", "a", ga(3))
    assert await store.release(EV, "h3", "") == 3
    await store.hold(EV, "bo", "", ga(2), boxoffice=True)
    with pytest.raises(Forbidden):
        await store.release(EV, "bo", "a")
    assert await store.release(EV, "bo", "") == 2
    await check(redis_client, store, held=2, sold=0)

    # In checkout: neither released nor replaced.
    await store.begin_checkout(EV, "h2", "b", 60_000)
    with pytest.raises(CheckoutInProgress):
        await store.release(EV, "h2", "b")
    with pytest.raises(CheckoutInProgress):
        await store.hold(EV, "h4", "b", ga(1))
    assert await states_of(store, "BALC-A-1", "BALC-A-2") == ["H:h2", "H:h2"]
    await check(redis_client, store, held=2, sold=0)


# --------------------------------------------------------------------------- checkout


async def test_begin_checkout(redis_client: aredis.Redis, store: InventoryStore) -> None:
    await store.rebuild(EV, make_spec(), [])
    for e in ("a", "b"):
        await shop(redis_client, store, e)
    h = await store.hold(EV, "h1", "a", seats("BALC-A-1", "BALC-A-2"))
    keys = store.keys(EV)

    with pytest.raises(Forbidden):
        await store.begin_checkout(EV, "h1", "b", 600_000)
    assert (await record(redis_client, store, "h1"))["st"] == "held"

    before = await redis_ms(redis_client)
    c = await store.begin_checkout(EV, "h1", "a", 600_000)
    after = await redis_ms(redis_client)
    assert (c.hold_id, c.seats, c.state, c.expires_ms) == ("h1", h.seats, "checkout", h.expires_ms)
    rec = await record(redis_client, store, "h1")
    assert rec["st"] == "checkout" and rec["hx"] == h.expires_ms
    assert before + 600_000 <= rec["x"] <= after + 600_000
    assert await redis_client.zscore(keys.expiries, "h1") == rec["x"]
    await check(redis_client, store, held=2, sold=0)

    # A grace shorter than the hold's own remaining time never shortens its life.
    await store.hold(EV, "h2", "b", ga(2))
    await store.begin_checkout(EV, "h2", "b", 1_000)
    rec2 = await record(redis_client, store, "h2")
    assert rec2["st"] == "checkout" and rec2["x"] == rec2["hx"]
    assert await redis_client.zscore(keys.expiries, "h2") == rec2["hx"]

    # The box office ("") skips the owner check; retrying extends again.
    again = await store.begin_checkout(EV, "h1", "", 900_000)
    assert again.state == "checkout"
    assert (await record(redis_client, store, "h1"))["x"] >= before + 900_000

    with pytest.raises(NotFound):  # never was: not "expired" (issue 10, item 9)
        await store.begin_checkout(EV, "nope", "a", 60_000)
    await check(redis_client, store, held=4, sold=0)


async def test_begin_checkout_claims_the_hold_for_one_attempt(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(), [])
    await shop(redis_client, store, "a")
    await store.hold(EV, "h1", "a", seats("BALC-A-1"))
    await store.begin_checkout(EV, "h1", "a", 60_000, claim="key-1")
    with pytest.raises(CheckoutInProgress):
        await store.begin_checkout(EV, "h1", "a", 60_000, claim="key-2")
    await store.begin_checkout(EV, "h1", "a", 60_000, claim="key-1")  # the same attempt again
    # A declined payment ends the claim and counts; the limit refuses the next.
    await store.abort_checkout(EV, "h1", declined=True)
    await store.begin_checkout(EV, "h1", "a", 60_000, claim="key-2", max_declines=2)
    await store.abort_checkout(EV, "h1", declined=True)
    with pytest.raises(RateLimited) as refused:
        await store.begin_checkout(EV, "h1", "a", 60_000, claim="key-3", max_declines=2)
    assert 0 < refused.value.retry_after <= 600
    # A claim lapses with its grace: a stuck attempt does not lock the hold.
    await store.begin_checkout(EV, "h1", "a", 1, claim="key-4")
    await asyncio.sleep(0.01)
    await store.begin_checkout(EV, "h1", "a", 60_000, claim="key-5")
    # An ended hold is remembered: hold_expired, not not_found.
    await store.abort_checkout(EV, "h1")
    await store.release(EV, "h1", "a")
    with pytest.raises(HoldExpired):
        await store.begin_checkout(EV, "h1", "a", 60_000, claim="key-6")


async def test_begin_checkout_on_an_expired_hold(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(), [])
    await shop(redis_client, store, "a")
    await store.hold(EV, "h1", "a", seats("BALC-A-1", "BALC-A-2"))
    await expire_now(redis_client, store, "h1")
    with pytest.raises(HoldExpired):
        await store.begin_checkout(EV, "h1", "a", 60_000)
    assert await states_of(store, "BALC-A-1", "BALC-A-2") == ["F", "F"]
    await check(redis_client, store, held=0, sold=0)


async def test_abort_checkout_returns_to_held(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(), [])
    await shop(redis_client, store, "a")
    h = await store.hold(EV, "h1", "a", seats("BALC-A-1", "BALC-A-2"))
    await store.begin_checkout(EV, "h1", "a", 900_000)
    assert await redis_client.zscore(store.keys(EV).expiries, "h1") != h.expires_ms
    await store.abort_checkout(EV, "h1")
    rec = await record(redis_client, store, "h1")
    assert (rec["st"], rec["x"], rec["hx"]) == ("held", h.expires_ms, h.expires_ms)
    assert await redis_client.zscore(store.keys(EV).expiries, "h1") == h.expires_ms
    await check(redis_client, store, held=2, sold=0)
    # Back to a plain hold: it may be replaced or released again.
    assert await store.release(EV, "h1", "a") == 2
    with pytest.raises(HoldExpired):
        await store.abort_checkout(EV, "h1")
    await check(redis_client, store, held=0, sold=0)

    # A hold whose own time ran out during the checkout is gone on abort.
    await store.hold(EV, "h2", "a", ga(3))
    await store.begin_checkout(EV, "h2", "a", 900_000)
    rec = await record(redis_client, store, "h2")
    rec["hx"] = await redis_ms(redis_client) - 1
    await redis_client.hset(store.keys(EV).holds, "h2", json.dumps(rec))
    await poke(store)
    assert await redis_client.hexists(store.keys(EV).holds, "h2")  # the grace protects it
    with pytest.raises(HoldExpired):
        await store.abort_checkout(EV, "h2")
    assert await store.ga_counts(EV) == {"FLOOR": {"cap": 10, "held": 0, "sold": 0}}
    await check(redis_client, store, held=0, sold=0)


# --------------------------------------------------------------------------- commit_sold


async def test_commit_sold(redis_client: aredis.Redis, store: InventoryStore) -> None:
    await store.rebuild(EV, make_spec(), [])
    for e in ("a", "b"):
        await shop(redis_client, store, e)
    keys = store.keys(EV)
    h = await store.hold(EV, "h1", "a", seats("BALC-A-1", "BALC-A-2"))
    await store.hold(EV, "h2", "b", ga(3))
    await store.begin_checkout(EV, "h1", "a", 60_000)
    sale = Sale(h.section, h.seats, h.quantity, h.entry)
    assert await store.commit_sold(EV, "o1", "h1", sale) is True
    assert await states_of(store, "BALC-A-1", "BALC-A-2") == ["S:o1", "S:o1"]
    assert await redis_client.hget(keys.holds, "h1") is None
    assert await redis_client.zscore(keys.expiries, "h1") is None
    assert await redis_client.hget(keys.by_entry, "a") is None
    assert await redis_client.hget(keys.bought, "a") == "2"
    assert await redis_client.zscore(keys.active, "a") is None
    assert await redis_client.zscore(keys.active, "b") is not None
    assert await store.sold_orders(EV) == {"o1"}
    await check(redis_client, store, held=3, sold=2)

    before = await snapshot(redis_client, store)
    assert await store.commit_sold(EV, "o1", "h1", sale) is False
    assert await snapshot(redis_client, store) == before

    # GA.
    await store.begin_checkout(EV, "h2", "b", 60_000)
    assert await store.commit_sold(EV, "o2", "h2", Sale("FLOOR", (), 3, "b")) is True
    assert await store.ga_counts(EV) == {"FLOOR": {"cap": 10, "held": 0, "sold": 3}}
    assert await redis_client.hget(keys.bought, "b") == "3"
    await check(redis_client, store, held=0, sold=5)
    before = await snapshot(redis_client, store)
    assert await store.commit_sold(EV, "o2", "h2", Sale("FLOOR", (), 3, "b")) is False
    assert await snapshot(redis_client, store) == before

    # Box office: no entry, no bought count.
    await store.hold(EV, "bo", "", seats("BALC-B-5"), boxoffice=True)
    assert await store.commit_sold(EV, "o3", "bo", Sale("BALC", ("BALC-B-5",), 1, "")) is True
    assert await redis_client.hgetall(keys.bought) == {"a": "2", "b": "3"}
    await check(redis_client, store, held=0, sold=6)
    counts = await store.counts(EV)
    assert counts.available == 14


async def test_commit_sold_after_the_hold_expired_forces_sold(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(), [])
    for e in ("a", "b"):
        await shop(redis_client, store, e)
    h = await store.hold(EV, "h1", "a", seats("BALC-A-1", "BALC-A-2"))
    g = await store.hold(EV, "h2", "b", ga(4))
    await store.begin_checkout(EV, "h1", "a", 60_000)
    await store.begin_checkout(EV, "h2", "b", 60_000)
    await expire_now(redis_client, store, "h1")
    await expire_now(redis_client, store, "h2")
    await poke(store)
    assert await states_of(store, "BALC-A-1", "BALC-A-2") == ["F", "F"]
    await check(redis_client, store, held=0, sold=0)

    assert await store.commit_sold(EV, "o1", "h1", Sale(h.section, h.seats, 2, "a")) is True
    assert await store.commit_sold(EV, "o2", "h2", Sale(g.section, (), 4, "b")) is True
    assert await states_of(store, "BALC-A-1", "BALC-A-2") == ["S:o1", "S:o1"]
    assert await store.ga_counts(EV) == {"FLOOR": {"cap": 10, "held": 0, "sold": 4}}
    assert await redis_client.hgetall(store.keys(EV).bought) == {"a": "2", "b": "4"}
    await check(redis_client, store, held=0, sold=6)


async def test_commit_sold_takes_a_seat_over_from_another_hold(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(), [])
    for e in ("a", "b"):
        await shop(redis_client, store, e)
    await store.hold(EV, "h1", "a", seats("BALC-A-1", "BALC-A-2"))
    await store.begin_checkout(EV, "h1", "a", 60_000)
    await expire_now(redis_client, store, "h1")
    await store.hold(EV, "h2", "b", seats("BALC-A-2", "BALC-A-3"))
    await check(redis_client, store, held=2, sold=0)

    sale = Sale("BALC", ("BALC-A-1", "BALC-A-2"), 2, "a")
    assert await store.commit_sold(EV, "o1", "h1", sale) is True
    assert await states_of(store, "BALC-A-1", "BALC-A-2", "BALC-A-3") == ["S:o1", "S:o1", "H:h2"]
    await check(redis_client, store, held=1, sold=2, strict=False)
    # The other hold gives back only what it still has.
    assert await store.release(EV, "h2", "b") == 1
    assert await states_of(store, "BALC-A-2", "BALC-A-3") == ["S:o1", "F"]
    await check(redis_client, store, held=0, sold=2)

    # A hold that lost every seat that way still expires cleanly (it frees 0 places,
    # and a script failing there would fail every later script through reclaim).
    for e in ("c", "d"):
        await shop(redis_client, store, e)
    await store.hold(EV, "h3", "c", seats("BALC-B-1"))
    await store.begin_checkout(EV, "h3", "c", 60_000)
    await expire_now(redis_client, store, "h3")
    await store.hold(EV, "h4", "d", seats("BALC-B-1"))
    assert await store.commit_sold(EV, "o2", "h3", Sale("BALC", ("BALC-B-1",), 1, "c"))
    await check(redis_client, store, held=0, sold=3, strict=False)
    assert [h.hold_id for h in await store.live_holds(EV)] == ["h4"]
    await expire_now(redis_client, store, "h4")
    await poke(store)
    assert await store.live_holds(EV) == []
    with pytest.raises(NotFound):
        await store.release(EV, "h4", "d")
    assert await states_of(store, "BALC-B-1") == ["S:o2"]
    await check(redis_client, store, held=0, sold=3)


# --------------------------------------------------------------------------- refund


async def test_refund(redis_client: aredis.Redis, store: InventoryStore) -> None:
    await store.rebuild(EV, make_spec(per_buyer=4), [])
    for e in ("a", "b"):
        await shop(redis_client, store, e)
    keys = store.keys(EV)
    await store.hold(EV, "h1", "a", seats("BALC-A-1", "BALC-A-2"))
    await store.hold(EV, "h2", "b", ga(4))
    s1 = Sale("BALC", ("BALC-A-1", "BALC-A-2"), 2, "a")
    s2 = Sale("FLOOR", (), 4, "b")
    assert await store.commit_sold(EV, "o1", "h1", s1)
    assert await store.commit_sold(EV, "o2", "h2", s2)
    await check(redis_client, store, held=0, sold=6)

    assert await store.refund(EV, "o1", s1) is True
    assert await states_of(store, "BALC-A-1", "BALC-A-2") == ["F", "F"]
    assert await store.sold_orders(EV) == {"o2"}
    assert await redis_client.smembers(keys.refunded) == {"o1"}
    await check(redis_client, store, held=0, sold=4)
    assert await store.refund(EV, "o2", s2) is True
    assert await store.ga_counts(EV) == {"FLOOR": {"cap": 10, "held": 0, "sold": 0}}
    await check(redis_client, store, held=0, sold=0)

    before = await snapshot(redis_client, store)
    assert await store.refund(EV, "o1", s1) is False
    assert await store.refund(EV, "o2", s2) is False
    assert await store.commit_sold(EV, "o1", "h1", s1) is False  # late commit: nothing
    assert await store.commit_sold(EV, "o2", "h2", s2) is False
    assert await snapshot(redis_client, store) == before

    # The refunded tickets no longer count toward the buyer's limit (as in Postgres,
    # which counts live tickets only).
    await shop(redis_client, store, "b")
    await store.hold(EV, "h3", "b", ga(4))
    await check(redis_client, store, held=4, sold=0)


async def test_refund_before_commit_then_late_commit(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    await store.rebuild(EV, make_spec(), [])
    await shop(redis_client, store, "a")
    await store.hold(EV, "h1", "a", ga(3))
    await store.begin_checkout(EV, "h1", "a", 60_000)
    sale = Sale("FLOOR", (), 3, "a")
    # Refunded before its commit_sold ran: nothing was counted sold, nothing is taken off.
    assert await store.refund(EV, "o1", sale) is True
    assert await store.ga_counts(EV) == {"FLOOR": {"cap": 10, "held": 3, "sold": 0}}
    await check(redis_client, store, held=3, sold=0)
    before = await snapshot(redis_client, store)
    assert await store.commit_sold(EV, "o1", "h1", sale) is False
    assert await snapshot(redis_client, store) == before


# --------------------------------------------------------------------------- rebuild


SOLD = [
    ("o1", Sale("BALC", ("BALC-A-1", "BALC-A-2"), 2, "a")),
    ("o2", Sale("FLOOR", (), 3, "b")),
    ("o3", Sale("FLOOR", (), 1, "")),
    ("o4", Sale("BALC", ("BALC-B-5",), 1, "")),
]


async def test_rebuild_from_an_empty_redis(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    spec = make_spec(ga=10, per_order=6, per_buyer=6)
    assert await store.rebuild(EV, spec, SOLD) == "built"
    assert await states_of(store, "BALC-A-1", "BALC-A-2", "BALC-B-5", "BALC-A-3") == [
        "S:o1",
        "S:o1",
        "S:o4",
        "F",
    ]
    assert await store.ga_counts(EV) == {"FLOOR": {"cap": 10, "held": 0, "sold": 4}}
    assert await redis_client.hgetall(store.keys(EV).bought) == {"a": "2", "b": "3"}
    assert await store.sold_orders(EV) == {"o1", "o2", "o3", "o4"}
    await check(redis_client, store, held=0, sold=7, capacity=20)

    # Selling on: a commit_sold replayed for an order the rebuild marked is a no-op.
    assert await store.commit_sold(EV, "o1", "", SOLD[0][1]) is False
    await shop(redis_client, store, "a")
    with pytest.raises(SeatsUnavailable) as exc:
        await store.hold(EV, "h1", "a", seats("BALC-A-2", "BALC-A-3"))
    assert exc.value.details == {"unavailable": ["BALC-A-2"]}
    with pytest.raises(LimitExceeded):
        await store.hold(EV, "h1", "a", ga(5))  # a bought 2 before the restart
    await store.hold(EV, "h1", "a", ga(4))
    await check(redis_client, store, held=4, sold=7)

    # Redis loses everything: holds are refused until the rebuild has run again.
    await redis_client.flushdb()
    await shop(redis_client, store, "a")
    with pytest.raises(Unavailable):
        await store.hold(EV, "h2", "a", ga(1))
    assert not (await store.counts(EV)).ready
    assert await store.rebuild(EV, spec, SOLD) == "built"
    await check(redis_client, store, held=0, sold=7, capacity=20)
    assert await store.live_holds(EV) == []


async def test_rebuild_when_ready_only_reconfigures(
    redis_client: aredis.Redis, store: InventoryStore
) -> None:
    spec = make_spec(ga=10, per_order=6, per_buyer=6, hold_seconds=300)
    assert await store.rebuild(EV, spec, SOLD) == "built"
    for e in ("c", "d"):
        await shop(redis_client, store, e)
    await store.hold(EV, "h1", "c", seats("BALC-A-3"))
    await store.hold(EV, "h2", "d", ga(2))
    await check(redis_client, store, held=3, sold=7)
    before = await snapshot(redis_client, store)

    changed = make_spec(ga=10, per_order=2, per_buyer=3, hold_seconds=100)
    extra = [*SOLD, ("o9", Sale("BALC", ("BALC-A-4",), 1, "c"))]
    assert await store.rebuild(EV, changed, extra) == "configured"
    after = await snapshot(redis_client, store)
    meta_key = store.keys(EV).meta
    assert {k: v for k, v in after.items() if k != meta_key} == {
        k: v for k, v in before.items() if k != meta_key
    }
    assert after[meta_key] == {
        **before[meta_key],
        "per_order": "2",
        "per_entry": "3",
        "hold_ms": "100000",
    }
    assert await states_of(store, "BALC-A-4") == ["F"]  # o9 was not replayed
    await check(redis_client, store, held=3, sold=7, capacity=20)

    with pytest.raises(LimitExceeded):
        await store.hold(EV, "h3", "c", ga(3))
    t0 = await redis_ms(redis_client)
    h = await store.hold(EV, "h3", "c", ga(2))
    assert t0 + 100_000 <= h.expires_ms <= await redis_ms(redis_client) + 100_000
    await check(redis_client, store, held=4, sold=7)


async def test_hold_records_round_trip(redis_client: aredis.Redis, store: InventoryStore) -> None:
    await store.rebuild(EV, make_spec(), [])
    await shop(redis_client, store, "a")
    h = await store.hold(EV, "h1", "a", seats("BALC-B-2", "BALC-A-4"))
    assert await store.live_holds(EV) == [h]
    assert isinstance(h, Hold) and h.seats == ("BALC-B-2", "BALC-A-4")
