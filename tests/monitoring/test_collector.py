"""The per-event figures read at scrape time: exact values after a small
sale, only live sales as labels, oversold with a negative control, the
one-second cache, and a backend that is down."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis.asyncio as aredis
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from onsale.events.policy import Event
from onsale.events.repo import live_now
from onsale.monitoring import figures, metrics
from onsale.monitoring.collector import CACHE_SECONDS, EventCollector
from onsale.monitoring.figures import Reading
from onsale.runtime import Runtime
from onsale.schema import orders, tickets
from tests.conftest import Admit, MakeEvent, auth
from tests.integration.clock import pass_time

CARD = {"provider": "test", "card_number": "4242424242424242"}
BUYER = {"email": "fan@example.org", "name": "Camille"}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _buy(
    client: httpx.AsyncClient, event_id: str, access: str, body: dict[str, object]
) -> None:
    hold = await client.post(f"/api/events/{event_id}/holds", headers=auth(access), json=body)
    assert hold.status_code == 201, hold.text
    paid = await client.post(
        f"/api/holds/{hold.json()['hold_id']}/checkout",
        json={"buyer": BUYER, "payment": CARD},
        headers={**auth(access), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert paid.status_code == 201, paid.text


def test_oversold_rules() -> None:
    assert figures.oversold("ga", 100, 100, 0) == 0
    assert figures.oversold("ga", 100, 103, 0) == 3
    assert figures.oversold("seated", 40, 40, 40) == 0
    assert figures.oversold("seated", 40, 12, 11) == 1  # one seat in two tickets
    assert figures.oversold("seated", 40, 43, 41) == 3  # two doubles, one seat off the map


def test_families_name_every_figure_once_with_bounded_labels() -> None:
    reading = Reading(
        (
            figures.EventReading(
                "ev_1",
                True,
                figures.QueueFigures(5, 2, 10, 1, 3, 2, 50, 600),
                figures.StockFigures(120, 4, 6),
                figures.SalesFigures(6, 0, {"paid": 3}, {"EUR": 15600}),
            ),
        ),
        redis_up=True,
        postgres_up=False,
        seconds=0.01,
    )
    found = {f.name: f for f in figures.families(reading)}
    assert set(found) == set(metrics.EVENT_FIGURES) | set(metrics.COLLECTOR_FIGURES)
    values = {
        (s.name, tuple(s.labels.values())): s.value for f in found.values() for s in f.samples
    }
    assert values[("onsale_queue_admitted_fans_total", ("ev_1",))] == 10
    assert values[("onsale_inventory_drift_places", ("ev_1",))] == 0
    assert values[("onsale_checkout_orders", ("ev_1", "refunded"))] == 0
    assert values[("onsale_checkout_revenue_cents", ("ev_1", "EUR"))] == 15600
    assert values[("onsale_backend_up", ("postgres",))] == 0
    for family in found.values():
        for sample in family.samples:
            assert set(sample.labels) <= {"event_id", "status", "currency", "backend"}


async def test_a_small_sale_reads_exactly(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event(ga=10, rows={"A": 10}, max_active=3)
    eid = event["id"]
    a, b = await admitted(eid), await admitted(eid)
    await _buy(client, eid, a, {"seats": ["BALC-A-1", "BALC-A-2"]})
    held = await client.post(
        f"/api/events/{eid}/holds", headers=auth(b), json={"section": "FLOOR", "quantity": 3}
    )
    assert held.status_code == 201
    # a's session ended at checkout: of four more fans two fill the free shopper
    # slots (max_active 3, b shopping), two wait
    for _ in range(4):
        assert (await client.post(f"/api/events/{eid}/queue")).status_code == 201
    await runtime.queue.admit(await runtime.events.get(eid))

    reading = await runtime.collector.read()
    assert reading.redis_up and reading.postgres_up
    [ev] = [e for e in reading.events if e.event_id == eid]
    assert ev.sale_open
    assert ev.stock == figures.StockFigures(capacity=20, held=3, sold=2)
    assert ev.sales == figures.SalesFigures(2, 0, {"paid": 1}, {"EUR": 5200})
    assert ev.queue is not None
    assert (ev.queue.waiting, ev.queue.admitted, ev.queue.active, ev.queue.holding) == (2, 4, 3, 1)
    assert (ev.queue.max_active, ev.queue.rate_per_minute, ev.queue.abandoned) == (3, 6000, 0)

    text = (await client.get("/metrics")).text
    samples = _samples(text)
    e = (("event_id", eid),)
    assert samples[("onsale_inventory_sold_places", e)] == 2
    assert samples[("onsale_checkout_live_tickets", e)] == 2
    assert samples[("onsale_inventory_drift_places", e)] == 0
    assert samples[("onsale_inventory_oversold_places", e)] == 0
    assert samples[("onsale_event_sale_open", e)] == 1
    assert samples[("onsale_queue_waiting_fans", e)] == 2
    assert samples[("onsale_queue_admitted_fans_total", e)] == 4
    assert samples[("onsale_checkout_revenue_cents", (("currency", "EUR"), *e))] == 5200


async def test_only_live_sales_are_labelled(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, venue: dict[str, str]
) -> None:
    live = await make_event()
    later = await make_event(opens_in=3600, prequeue_in=1800)  # pre-queue not open yet
    closed = await make_event()
    past = datetime.now(UTC) - timedelta(minutes=1)
    r = await client.patch(
        f"/api/admin/events/{closed['id']}",
        headers=auth(venue["api_key"]),
        json={"sale": {"closes_at": past.isoformat().replace("+00:00", "Z")}},
    )
    assert r.status_code == 200, r.text
    ids = {e.event_id for e in (await runtime.collector.read()).events}
    assert ids == {live["id"]}
    text = (await client.get("/metrics")).text
    assert live["id"] in text and later["id"] not in text and closed["id"] not in text


async def test_oversold_and_drift_show_a_sale_behind_postgres_back(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event(ga=2, rows={})
    eid = event["id"]
    await _buy(client, eid, await admitted(eid), {"section": "FLOOR", "quantity": 2})
    fresh = _collector(runtime)
    [clean] = (await fresh.read()).events
    assert clean.sales is not None and clean.sales.oversold == 0
    # Negative control: tickets written around every guard, as a bug would.
    async with runtime.engine.begin() as conn:
        row = (await conn.execute(sa.select(orders).where(orders.c.event_id == eid))).one()
        for i in range(3):
            await conn.execute(
                tickets.insert().values(
                    id=f"tkt_forged{i}",
                    order_id=row.id,
                    event_id=eid,
                    section="FLOOR",
                    seat=None,
                    price_cents=0,
                    fee_cents=0,
                    code=f"forged-{i}",
                    status="live",
                )
            )
    fresh = _collector(runtime)
    [broken] = (await fresh.read()).events
    assert broken.sales is not None and broken.stock is not None
    assert broken.sales.oversold == 3
    assert broken.stock.sold - broken.sales.live_tickets == -3


async def test_a_reading_serves_scrapes_for_a_second(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    await make_event()
    now = [100.0]
    cached = EventCollector(
        runtime.engine,
        runtime.redis,
        runtime.settings.redis_prefix,
        live_events=live_now(runtime.engine),
        clock=lambda: now[0],
    )
    first = await cached.read()
    now[0] += 0.9
    assert await cached.read() is first and cached.collections == 1
    now[0] += 0.2
    assert await cached.read() is not first and cached.collections == 2


def _collector(runtime: Runtime) -> EventCollector:
    return EventCollector(
        runtime.engine,
        runtime.redis,
        runtime.settings.redis_prefix,
        live_events=live_now(runtime.engine),
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_backend_down_is_reported_and_the_other_still_read(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event()
    dead = aredis.Redis(port=_closed_port(), socket_connect_timeout=0.2, retry_on_error=[])
    try:
        reading = await EventCollector(
            runtime.engine,
            dead,
            runtime.settings.redis_prefix,
            live_events=live_now(runtime.engine),
        ).read()
    finally:
        await dead.aclose()
    assert not reading.redis_up and reading.postgres_up
    [ev] = reading.events
    assert ev.event_id == event["id"] and ev.stock is None and ev.sales is not None

    known: list[Event] = await runtime.events.live_events()
    calls = iter([known])

    async def postgres_then_down() -> list[Event]:
        for events in calls:
            return events
        raise OSError("connection refused")

    flaky = EventCollector(
        runtime.engine,
        runtime.redis,
        runtime.settings.redis_prefix,
        live_events=postgres_then_down,
        cache_seconds=0,
    )
    assert (await flaky.read()).postgres_up
    down = await flaky.read()
    assert not down.postgres_up and down.redis_up
    [ev] = down.events  # Redis' figures of the sale known before
    assert ev.stock is not None and ev.stock.capacity == 120 and ev.sales is None


@pytest.mark.parametrize("status", ["paid", "refunded"])
def test_orders_are_shown_by_status_even_at_zero(status: str) -> None:
    reading = Reading(
        (figures.EventReading("ev_1", False, sales=figures.SalesFigures()),), True, True
    )
    samples = {
        (s.name, tuple(s.labels.values())): s.value
        for f in figures.families(reading)
        for s in f.samples
    }
    assert samples[("onsale_checkout_orders", ("ev_1", status))] == 0


async def test_a_stall_and_the_shoppers_parked_show_per_event(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    """Two places, two admitted shoppers who hold nothing, fans waiting: the
    queue stalls until the shoppers, unseen, are parked (issue 11)."""
    event = await make_event(ga=2, rows={}, max_active=10)
    ev = await runtime.events.get(event["id"])
    keys = runtime.queue.store.keys(ev.id)
    await runtime.queue.admit(ev)
    for _ in range(4):
        assert (await client.post(f"/api/events/{ev.id}/queue")).status_code == 201
    await pass_time(runtime.redis, keys, 1000)
    assert (await runtime.queue.admit(ev)).admitted == 2
    await pass_time(runtime.redis, keys, 5000)
    assert (await runtime.queue.admit(ev)).stall_ms >= 5000

    e = (("event_id", ev.id),)
    text = (await client.get("/metrics")).text
    families = re.findall(r"^# TYPE (\S+)", text, re.MULTILINE)
    assert len(families) == len(set(families))  # a process metric never shadows a figure
    samples = _samples(text)
    assert 5 <= samples[("onsale_queue_current_stall_seconds", e)] < 6
    assert 5 <= samples[("onsale_queue_longest_stall_seconds", e)] < 6
    assert 5 <= samples[("onsale_queue_stall_seconds_total", e)] < 6
    assert samples[("onsale_queue_parked_shoppers_total", e)] == 0

    await pass_time(runtime.redis, keys, 16_000)  # 21 s unseen: parked
    result = await runtime.queue.admit(ev)
    assert (result.parked, result.admitted, result.stall_ms) == (2, 2, 0)
    await asyncio.sleep(CACHE_SECONDS)  # the next scrape reads afresh
    samples = _samples((await client.get("/metrics")).text)
    assert samples[("onsale_queue_current_stall_seconds", e)] == 0
    assert 5 <= samples[("onsale_queue_longest_stall_seconds", e)] < 6  # the queue moved
    assert samples[("onsale_queue_parked_shoppers_total", e)] == 2
