"""Concurrent buyers of the last seats, with a negative control.

First the protections are switched off (test-only switches) to show that the
race is real and these tests can fail; then, with them on, hundreds of
concurrent attempts never hold or sell more than there is (I1, I2).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from onsale.errors import OnsaleError
from onsale.events.policy import Event
from onsale.inventory.store import Hold
from onsale.runtime import Runtime
from onsale.verify import verify_event
from tests.concurrency import unsafe
from tests.conftest import MakeEvent

BODY = {
    "buyer": {"email": "", "name": "Fan"},
    "payment": {"provider": "test", "card_number": "4242424242424242"},
}


async def _shoppers(runtime: Runtime, event_id: str, n: int) -> list[str]:
    """n admitted queue entries with a live shopping session."""
    entries = [f"q_fan{i:04d}" for i in range(n)]
    expires = int(time.time() * 1000) + 600_000
    await runtime.redis.zadd(
        runtime.inventory.store.keys(event_id).active, dict.fromkeys(entries, expires)
    )
    return entries


async def _hold_all(runtime: Runtime, event: Event, bodies: list[tuple[str, Any]]) -> list[Hold]:
    async def attempt(entry: str, body: Any) -> Hold | None:
        try:
            return await runtime.inventory.hold(event, entry, body)
        except OnsaleError:
            return None

    # Open the connections first, so that the attempts really run side by side.
    await asyncio.gather(*(runtime.redis.ping() for _ in range(min(len(bodies), 60))))
    results = await asyncio.gather(*(attempt(e, b) for e, b in bodies))
    return [h for h in results if h is not None]


async def _checkout_all(runtime: Runtime, event: Event, holds: list[Hold]) -> int:
    async def pay(hold: Hold) -> bool:
        body = {**BODY, "buyer": {"email": f"{hold.entry}@example.org", "name": "Fan"}}
        try:
            await runtime.checkout.checkout(
                event, hold.hold_id, hold.entry, str(uuid.uuid4()), body
            )
        except OnsaleError:
            return False
        return True

    return sum(await asyncio.gather(*(pay(h) for h in holds)))


def _seated_attempts(entries: list[str], rng: random.Random) -> list[tuple[str, Any]]:
    """Everyone after the same 50 seats: chosen pairs, best available, singles."""
    seats = [f"BALC-{r}-{n}" for r in "ABCDE" for n in range(1, 11)]
    out: list[tuple[str, Any]] = []
    for i, entry in enumerate(entries):
        if i % 3 == 0:
            first = rng.randrange(1, 10)
            row = rng.choice("ABCDE")
            out.append((entry, {"seats": [f"BALC-{row}-{first}", f"BALC-{row}-{first + 1}"]}))
        elif i % 3 == 1:
            out.append(
                (entry, {"section": "BALC", "quantity": rng.choice((1, 2)), "best_available": True})
            )
        else:
            out.append((entry, {"seats": [rng.choice(seats)]}))
    return out


def _double_held(holds: list[Hold]) -> int:
    per_seat = Counter(seat for h in holds for seat in h.seats)
    return sum(n - 1 for n in per_seat.values() if n > 1)


async def test_negative_control_non_atomic_holds_do_oversell(
    runtime: Runtime, make_event: MakeEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.inventory.store, "unsafe_hold", unsafe.hold)
    created = await make_event(ga=0, rows={r: 10 for r in "ABCDE"})
    event = await runtime.events.get(created["id"])
    entries = await _shoppers(runtime, event.id, 500)
    singles = [
        (e, {"seats": [f"BALC-{'ABCDE'[i % 5]}-{i % 10 + 1}"]}) for i, e in enumerate(entries)
    ]
    holds = await _hold_all(runtime, event, singles)
    held_places = sum(h.quantity for h in holds)
    assert held_places > 50, "without atomic holds the race must show (or this test is blind)"
    assert _double_held(holds) > 0


async def test_negative_control_ga_without_any_guard_oversells_in_postgres(
    runtime: Runtime, make_event: MakeEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.inventory.store, "unsafe_hold", unsafe.hold)
    monkeypatch.setattr(runtime.checkout, "guard_capacity", False)
    created = await make_event(ga=20, rows={})
    event = await runtime.events.get(created["id"])
    entries = await _shoppers(runtime, event.id, 100)
    holds = await _hold_all(
        runtime, event, [(e, {"section": "FLOOR", "quantity": 1}) for e in entries]
    )
    sold = await _checkout_all(runtime, event, holds)
    assert sold > 20
    report = await verify_event(runtime.engine, runtime.inventory.store, event.id)
    assert not report.ok
    assert any("capacity" in v for v in report.violations)


async def test_500_concurrent_seated_attempts_never_exceed_50_seats(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    created = await make_event(ga=0, rows={r: 10 for r in "ABCDE"})
    event = await runtime.events.get(created["id"])
    entries = await _shoppers(runtime, event.id, 500)
    holds = await _hold_all(runtime, event, _seated_attempts(entries, random.Random(7)))
    assert 0 < sum(h.quantity for h in holds) <= 50
    assert _double_held(holds) == 0
    counts = await runtime.inventory.store.counts(event.id)
    assert counts.held == sum(h.quantity for h in holds)

    sold_orders = await _checkout_all(runtime, event, holds)
    assert sold_orders == len(holds)
    report = await verify_event(runtime.engine, runtime.inventory.store, event.id)
    assert report.ok, report.violations
    assert report.warnings == []
    assert report.figures["live_tickets"] == sum(h.quantity for h in holds) <= 50


async def test_500_concurrent_ga_attempts_never_exceed_capacity(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    created = await make_event(ga=50, rows={})
    event = await runtime.events.get(created["id"])
    entries = await _shoppers(runtime, event.id, 500)
    rng = random.Random(11)
    holds = await _hold_all(
        runtime,
        event,
        [(e, {"section": "FLOOR", "quantity": rng.choice((1, 2, 3))}) for e in entries],
    )
    assert sum(h.quantity for h in holds) <= 50
    await _checkout_all(runtime, event, holds)
    report = await verify_event(runtime.engine, runtime.inventory.store, event.id)
    assert report.ok, report.violations
    assert report.figures["live_tickets"] <= 50
    assert report.figures["live_tickets"] == sum(h.quantity for h in holds)


async def test_postgres_refuses_a_second_sale_of_a_seat_even_if_redis_is_wrong(
    runtime: Runtime, make_event: MakeEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis made to double-grant (non-atomic holds), the partial unique
    index still lets only one order have each seat."""
    monkeypatch.setattr(runtime.inventory.store, "unsafe_hold", unsafe.hold)
    created = await make_event(ga=0, rows={"A": 4})
    event = await runtime.events.get(created["id"])
    entries = await _shoppers(runtime, event.id, 40)
    holds = await _hold_all(
        runtime, event, [(e, {"seats": ["BALC-A-1", "BALC-A-2"]}) for e in entries]
    )
    assert len(holds) > 1  # Redis granted the same seats several times
    assert await _checkout_all(runtime, event, holds) == 1
    report = await verify_event(runtime.engine, runtime.inventory.store, event.id)
    assert report.ok, report.violations
    assert report.figures["live_tickets"] == 2
