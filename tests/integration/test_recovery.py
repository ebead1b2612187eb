"""Crash and restart recovery (I3, I7): the reconciler and the rebuild repair
what a dying process or a Redis that lost its data left behind."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from onsale import faults
from onsale.errors import Forbidden, SeatsUnavailable
from onsale.events.policy import Event
from onsale.inventory.store import Hold
from onsale.payments.providers import TestProvider
from onsale.runtime import Runtime
from onsale.verify import verify_event
from tests.conftest import MakeEvent

CARD = {"provider": "test", "card_number": "4242424242424242"}


def _body(email: str = "fan@example.org") -> dict[str, object]:
    return {"buyer": {"email": email, "name": "Camille"}, "payment": CARD}


@pytest.fixture
def crash_at(runtime: Runtime) -> Iterator[list[str]]:
    armed: list[str] = []
    yield armed
    for point in armed:
        runtime.checkout.faults.disarm(point)


async def _shopping(runtime: Runtime, event_id: str, entry: str) -> None:
    expires = int(time.time() * 1000) + 600_000
    await runtime.redis.zadd(runtime.inventory.store.keys(event_id).active, {entry: expires})


async def _event_and_hold(
    runtime: Runtime, make_event: MakeEvent, seats: list[str]
) -> tuple[Event, Hold]:
    created = await make_event()
    event = await runtime.events.get(created["id"])
    await _shopping(runtime, event.id, "q_fan")
    hold = await runtime.inventory.hold(event, "q_fan", {"seats": seats})
    return event, hold


def _ledger(runtime: Runtime) -> TestProvider:
    provider = runtime.providers["test"]
    assert isinstance(provider, TestProvider)
    return provider


async def test_crash_between_postgres_and_redis_commit_is_repaired(
    runtime: Runtime, make_event: MakeEvent, crash_at: list[str]
) -> None:
    event, hold = await _event_and_hold(runtime, make_event, ["BALC-A-1", "BALC-A-2"])
    runtime.checkout.faults.arm(faults.AFTER_ORDER_COMMIT)
    crash_at.append(faults.AFTER_ORDER_COMMIT)
    key = str(uuid.uuid4())
    with pytest.raises(faults.InjectedCrash):
        await runtime.checkout.checkout(event, hold.hold_id, "q_fan", key, _body())
    runtime.checkout.faults.disarm(faults.AFTER_ORDER_COMMIT)

    # The order is in Postgres, Redis does not show the seats sold yet.
    states = await runtime.inventory.store.seat_states(event.id)
    assert states["BALC-A-1"] == "held"
    before = await verify_event(runtime.engine, runtime.inventory.store, event.id)
    assert before.ok and before.warnings  # drift, not a violation

    repairs = await runtime.reconciler.run_once([event])
    assert repairs.counts["commit_sold_replayed"] == 1
    assert repairs.counts["payment_captured"] == 1
    states = await runtime.inventory.store.seat_states(event.id)
    assert states["BALC-A-1"] == states["BALC-A-2"] == "sold"
    after = await verify_event(runtime.engine, runtime.inventory.store, event.id)
    assert after.ok and after.warnings == []

    # The fan, who never got the reply, retries with the same key: same order,
    # charged once.
    retry = await runtime.checkout.checkout(event, hold.hold_id, "q_fan", key, _body())
    assert retry.status_code == 200
    charges = list(_ledger(runtime).charges.values())
    assert [c.status for c in charges] == ["captured"]
    assert (await runtime.reconciler.run_once([event])).total() == 0


async def test_retry_after_a_lost_reply_returns_the_same_order_and_charges_once(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    event, hold = await _event_and_hold(runtime, make_event, ["BALC-B-5"])
    key = str(uuid.uuid4())
    first = await runtime.checkout.checkout(event, hold.hold_id, "q_fan", key, _body())
    again = await runtime.checkout.checkout(event, hold.hold_id, "q_fan", key, _body())
    assert first.status_code == 201 and again.status_code == 200
    assert again.body == first.body
    assert len(_ledger(runtime).charges) == 1
    assert _ledger(runtime).captured_total() == first.body["total_cents"]


async def test_crash_after_authorize_voids_the_payment_and_a_retry_pays_once(
    runtime: Runtime, make_event: MakeEvent, crash_at: list[str]
) -> None:
    event, hold = await _event_and_hold(runtime, make_event, ["BALC-A-3"])
    runtime.checkout.faults.arm(faults.AFTER_AUTHORIZE)
    crash_at.append(faults.AFTER_AUTHORIZE)
    key = str(uuid.uuid4())
    with pytest.raises(faults.InjectedCrash):
        await runtime.checkout.checkout(event, hold.hold_id, "q_fan", key, _body())
    runtime.checkout.faults.disarm(faults.AFTER_AUTHORIZE)

    # The settings of the tests make an orphan payment stale at once.
    repairs = await runtime.reconciler.run_once([event])
    assert repairs.counts["payment_voided"] == 1
    assert repairs.counts["stale_claim_dropped"] == 1
    assert [c.status for c in _ledger(runtime).charges.values()] == ["voided"]

    # The hold is still in checkout (its grace has not run out): the retry pays.
    retry = await runtime.checkout.checkout(event, hold.hold_id, "q_fan", key, _body())
    assert retry.status_code == 201
    statuses = sorted(c.status for c in _ledger(runtime).charges.values())
    assert statuses == ["captured", "voided"]
    report = await verify_event(runtime.engine, runtime.inventory.store, event.id)
    assert report.ok and report.warnings == []


async def test_redis_flushed_mid_sale_is_rebuilt_before_new_holds(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    event, hold = await _event_and_hold(runtime, make_event, ["BALC-A-1", "BALC-A-2"])
    await runtime.checkout.checkout(event, hold.hold_id, "q_fan", str(uuid.uuid4()), _body())
    await _shopping(runtime, event.id, "q_other")
    ga = await runtime.inventory.hold(event, "q_other", {"section": "FLOOR", "quantity": 3})
    await runtime.checkout.checkout(
        event, ga.hold_id, "q_other", str(uuid.uuid4()), _body("other@example.org")
    )

    await runtime.redis.flushdb()
    await _shopping(runtime, event.id, "q_late")  # a fan whose session survived elsewhere

    with pytest.raises(SeatsUnavailable) as refused:
        await runtime.inventory.hold(event, "q_late", {"seats": ["BALC-A-2", "BALC-A-3"]})
    assert refused.value.details["unavailable"] == ["BALC-A-2"]
    counts = await runtime.inventory.store.counts(event.id)
    assert counts.ready and counts.sold == 5
    ga_counts = await runtime.inventory.store.ga_counts(event.id)
    assert ga_counts["FLOOR"]["sold"] == 3

    hold2 = await runtime.inventory.hold(event, "q_late", {"seats": ["BALC-A-3"]})
    assert hold2.seats == ("BALC-A-3",)
    report = await verify_event(runtime.engine, runtime.inventory.store, event.id)
    assert report.ok and report.warnings == []


async def test_reconciler_rebuilds_an_event_whose_redis_state_is_missing(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    event, hold = await _event_and_hold(runtime, make_event, ["BALC-B-1"])
    await runtime.checkout.checkout(event, hold.hold_id, "q_fan", str(uuid.uuid4()), _body())
    await runtime.inventory.store.drop(event.id)
    repairs = await runtime.reconciler.run_once()
    assert repairs.counts["inventory_rebuilt"] == 1
    assert (await runtime.inventory.store.seat_states(event.id))["BALC-B-1"] == "sold"
    assert await runtime.queue.store.is_configured(event.id)


async def test_a_refused_attempt_does_not_block_its_key(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    """An attempt refused for a reason that is not final (another fan's hold)
    frees its idempotency key at once: the rightful retry is not told 'in
    progress'."""
    event, hold = await _event_and_hold(runtime, make_event, ["BALC-A-7"])
    key = str(uuid.uuid4())
    with pytest.raises(Forbidden):
        await runtime.checkout.checkout(event, hold.hold_id, "q_somebody_else", key, _body())
    paid = await runtime.checkout.checkout(event, hold.hold_id, "q_fan", key, _body())
    assert paid.status_code == 201


async def test_the_reconciler_leaves_a_checkout_that_may_still_be_running_alone(
    runtime: Runtime, make_event: MakeEvent, crash_at: list[str]
) -> None:
    """An order younger than the settle time may be between steps 3 and 4 in
    another process: replaying it then would be a false 'repair' (and a page)."""
    event, hold = await _event_and_hold(runtime, make_event, ["BALC-A-9"])
    runtime.checkout.faults.arm(faults.AFTER_ORDER_COMMIT)
    crash_at.append(faults.AFTER_ORDER_COMMIT)
    with pytest.raises(faults.InjectedCrash):
        await runtime.checkout.checkout(event, hold.hold_id, "q_fan", str(uuid.uuid4()), _body())
    patient = dataclasses.replace(runtime.reconciler, settle_after=timedelta(minutes=1))
    assert (await patient.run_once([event])).counts["commit_sold_replayed"] == 0
    assert (await runtime.reconciler.run_once([event])).counts["commit_sold_replayed"] == 1
