"""Differential test: the "best available" choice made inside ``lua/hold.lua``
must be exactly the one of the pure reference model
``onsale.inventory.policy.best_available``, on random seat maps where some seats
are held or sold (and some are held by the asking fan's own previous hold,
which counts as free for it).
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

import redis.asyncio as aredis

from onsale.errors import SeatsUnavailable
from onsale.events.policy import Row, Section
from onsale.inventory.policy import HoldRequest, best_available
from onsale.inventory.store import InventoryStore
from onsale.settings import Settings
from tests.integration.test_inventory_scripts import EV, make_spec, redis_ms

CASES = 1000
TIME_BUDGET_S = 20.0
MIN_CASES = 200
ROW_NAMES = ["A", "B", "C", "AA", "1", "ZZ9"]


def random_section(rng: random.Random, code: str) -> Section:
    n_rows = rng.randint(1, 4)
    names = rng.sample(ROW_NAMES, n_rows)
    rows = tuple(Row(name, rng.randint(1, 14)) for name in names)
    return Section(code, "seated", "STD", sum(r.seats for r in rows), rows)


def random_marks(rng: random.Random, sections: list[Section]) -> dict[str, str]:
    """seat id -> "F" / "H:<other hold>" / "S:<order>", with a per-map density."""
    p_free = rng.choice([0.2, 0.4, 0.6, 0.8, 0.9, 1.0])
    marks: dict[str, str] = {}
    for section in sections:
        for seat in section.seat_ids():
            if rng.random() < p_free:
                marks[seat] = "F"
            else:
                marks[seat] = rng.choice(["H:other", "S:o1", "S:o2"])
    return marks


async def run_case(
    rng: random.Random, client: aredis.Redis, store: InventoryStore, case: int
) -> str:
    """One random map; returns what happened ("picked", "none", "picked-own": picked
    with the fan's previous hold counting as free) for the statistics."""
    await client.flushdb()
    sections = [random_section(rng, "BALC"), random_section(rng, "LOGE")]
    spec = replace(
        make_spec(ga=0, rows={}, per_order=100, per_buyer=1000), sections=tuple(sections)
    )
    assert await store.rebuild(EV, spec, []) == "built"
    await client.zadd(store.keys(EV).active, {"fan": await redis_ms(client) + 600_000})
    marks = random_marks(rng, sections)
    target = rng.choice(sections)

    # Sometimes the fan already holds a few free seats of the target section.
    mine = ""
    free_here = [s for s in target.seat_ids() if marks[s] == "F"]
    if free_here and rng.random() < 0.4:
        own = rng.sample(free_here, rng.randint(1, min(4, len(free_here))))
        for seat in own:
            marks[seat] = "H:own"  # placeholder until the real hold takes them
    await client.hset(
        store.keys(EV).seats, mapping={s: ("F" if m == "H:own" else m) for s, m in marks.items()}
    )
    own_seats = tuple(s for s in target.seat_ids() if marks[s] == "H:own")
    if own_seats:
        old = await store.hold(
            EV, f"old{case}", "fan", HoldRequest("seats", target.code, len(own_seats), own_seats)
        )
        assert old.seats == own_seats
        mine = f"H:old{case}"

    longest = max(r.seats for r in target.rows)
    quantity = rng.randint(1, longest + (1 if rng.random() < 0.1 else 0))
    states = await store.seat_marks(EV)
    expected = best_available(target.code, target.rows, states, quantity, mine)
    context = (case, target, quantity, mine, states)
    try:
        hold = await store.hold(EV, f"new{case}", "fan", HoldRequest("best", target.code, quantity))
    except SeatsUnavailable:
        assert expected is None, context
        # All or nothing: the map is as it was, the old hold is kept.
        assert await store.seat_marks(EV) == states, context
        return "none"
    assert expected is not None, (context, hold.seats)
    assert list(hold.seats) == expected, context
    assert hold.quantity == quantity and hold.section == target.code
    after = await store.seat_marks(EV)
    for seat, mark in states.items():
        if seat in expected:
            assert after[seat] == f"H:new{case}", (context, seat)
        elif mine and mark == mine:
            assert after[seat] == "F", (context, seat)  # the replaced hold's seats are free
        else:
            assert after[seat] == mark, (context, seat)
    return "picked-own" if mine else "picked"


async def test_lua_best_available_matches_the_reference(
    redis_client: aredis.Redis, settings: Settings
) -> None:
    store = InventoryStore(redis_client, settings.redis_prefix)
    rng = random.Random(20261201)
    outcomes: dict[str, int] = {"picked": 0, "picked-own": 0, "none": 0}
    started = time.monotonic()
    done = 0
    for case in range(CASES):
        if time.monotonic() - started > TIME_BUDGET_S:
            break
        outcomes[await run_case(rng, redis_client, store, case)] += 1
        done += 1
    assert done >= MIN_CASES, f"only {done} cases in {TIME_BUDGET_S}s"
    # The random maps exercise both answers, not just one.
    assert outcomes["picked"] >= done // 4, outcomes
    assert outcomes["picked-own"] >= done // 20, outcomes
    assert outcomes["none"] >= done // 20, outcomes


async def test_hand_picked_maps(redis_client: aredis.Redis, settings: Settings) -> None:
    """A few maps whose answers are known by hand, checked against both models."""
    store = InventoryStore(redis_client, settings.redis_prefix)
    cases: list[tuple[dict[str, int], dict[str, str], int, list[str] | None]] = [
        # An empty row of 10: the middle pair.
        ({"A": 10}, {}, 2, ["BALC-A-5", "BALC-A-6"]),
        # 1-3 free, 4 sold, 5-6 free: 5-6 leaves no lone seat, 1-2 or 2-3 would.
        ({"A": 6}, {"BALC-A-4": "S:o"}, 2, ["BALC-A-5", "BALC-A-6"]),
        # Row A of 3 can only leave a lone seat; row B of 4 can place 2 cleanly.
        ({"A": 3, "B": 4}, {}, 2, ["BALC-B-1", "BALC-B-2"]),
        # No clean placement anywhere: the first row with room, middle-most.
        ({"A": 3, "B": 3}, {"BALC-B-2": "H:x"}, 2, ["BALC-A-1", "BALC-A-2"]),
        # No room in any row.
        ({"A": 3, "B": 2}, {"BALC-A-2": "S:o", "BALC-B-1": "H:x"}, 2, None),
    ]
    for rows, marks, quantity, answer in cases:
        await redis_client.flushdb()
        spec = make_spec(ga=0, rows=rows)
        await store.rebuild(EV, spec, [])
        if marks:
            await redis_client.hset(store.keys(EV).seats, mapping=marks)
        await redis_client.zadd(
            store.keys(EV).active, {"fan": await redis_ms(redis_client) + 60_000}
        )
        section = spec.sections[0]
        assert best_available("BALC", section.rows, await store.seat_marks(EV), quantity) == answer
        try:
            hold = await store.hold(EV, "h", "fan", HoldRequest("best", "BALC", quantity))
        except SeatsUnavailable:
            assert answer is None, rows
        else:
            assert list(hold.seats) == answer, rows
