"""One live hold per shopper while the same shoppers re-hold concurrently
(hold.lua replaces a shopper's hold, in place for GA in the same section),
with a negative control: without the atomic script, holds pile up."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest

from onsale.errors import OnsaleError
from onsale.events.policy import Event
from onsale.runtime import Runtime
from tests.concurrency import unsafe
from tests.concurrency.test_oversell import _shoppers
from tests.conftest import MakeEvent

SHOPPERS = 20
TRIES = 15


def _bodies(entries: list[str], rng: random.Random, best: bool = True) -> list[tuple[str, Any]]:
    """Every shopper TRIES times, interleaved: mostly GA of one section (the
    in-place path), some seats and best available (replace across kinds;
    ``best``: tests/concurrency/unsafe.py has no best available)."""
    out: list[tuple[str, Any]] = []
    for _ in range(TRIES):
        for entry in entries:
            pick = rng.random()
            if pick < 0.7:
                out.append((entry, {"section": "FLOOR", "quantity": rng.choice((1, 2, 3))}))
            elif pick < 0.85 or not best:
                out.append((entry, {"seats": [f"BALC-{rng.choice('AB')}-{rng.randrange(1, 11)}"]}))
            else:
                out.append((entry, {"section": "BALC", "quantity": 2, "best_available": True}))
    return out


async def _rehold_all(runtime: Runtime, event: Event, bodies: list[tuple[str, Any]]) -> int:
    async def attempt(entry: str, body: Any) -> bool:
        try:
            await runtime.inventory.hold(event, entry, body)
        except OnsaleError:
            return False
        return True

    await asyncio.gather(*(runtime.redis.ping() for _ in range(60)))
    return sum(await asyncio.gather(*(attempt(e, b) for e, b in bodies)))


async def _violations(runtime: Runtime, event_id: str) -> list[str]:
    """Breaches of "one live hold per shopper, and the counts are its places"."""
    store = runtime.inventory.store
    holds = await store.live_holds(event_id)
    out: list[str] = []
    per_entry = Counter(h.entry for h in holds)
    out += [f"{e} has {n} live holds" for e, n in per_entry.items() if n > 1]
    counts = await store.counts(event_id)
    live = sum(h.quantity for h in holds)
    if counts.held != live:
        out.append(f"held {counts.held} != places of the live holds {live}")
    ga = (await store.ga_counts(event_id)).get("FLOOR", {})
    ga_live = sum(h.quantity for h in holds if not h.seats)
    if ga.get("held") != ga_live:
        out.append(f"FLOOR held {ga.get('held')} != GA places of the live holds {ga_live}")
    marks = await store.seat_marks(event_id)
    mine = {s: h.hold_id for h in holds for s in h.seats}
    marked = {s: m[2:] for s, m in marks.items() if m.startswith("H:")}
    if marked != mine:
        out.append("seat marks and live holds disagree")
    by_entry = await runtime.redis.hgetall(store.keys(event_id).by_entry)
    if by_entry != {h.entry: h.hold_id for h in holds}:
        out.append("by_entry does not name each shopper's live hold")
    return out


async def test_negative_control_non_atomic_holds_pile_up(
    runtime: Runtime, make_event: MakeEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.inventory.store, "unsafe_hold", unsafe.hold)
    created = await make_event(ga=1000, rows={"A": 10, "B": 10})
    event = await runtime.events.get(created["id"])
    entries = await _shoppers(runtime, event.id, SHOPPERS)
    assert await _rehold_all(runtime, event, _bodies(entries, random.Random(3), best=False)) > 0
    found = await _violations(runtime, event.id)
    assert any("live holds" in v for v in found), "the check must see the breach"


async def test_concurrent_reholds_leave_one_live_hold_per_shopper(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    created = await make_event(ga=1000, rows={"A": 10, "B": 10})
    event = await runtime.events.get(created["id"])
    entries = await _shoppers(runtime, event.id, SHOPPERS)
    for seed in (3, 4):
        assert await _rehold_all(runtime, event, _bodies(entries, random.Random(seed))) > 0
        assert await _violations(runtime, event.id) == []
    holds = await runtime.inventory.store.live_holds(event.id)
    assert {h.entry for h in holds} == set(entries)
