"""``payment_repo.reusable_payment``: a retry finds the authorized payment of
an earlier attempt with its key and hold that has no order yet (I3), and
nothing else: not another hold's, not a declined one, not one with an order.
The query reads by key only and checks the rest in Python (the planner took
a scan of dead index entries when the conditions were in SQL)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from onsale.checkout import payment_repo
from onsale.runtime import Runtime
from onsale.schema import orders, payments
from tests.conftest import MakeEvent


async def _payment(runtime: Runtime, event_id: str, key: str, hold: str, status: str) -> str:
    pid = await payment_repo.payment_create(
        runtime.engine,
        event_id=event_id,
        hold_id=hold,
        provider="test",
        key=key,
        amount_cents=100,
        currency="EUR",
        last4="4242",
    )
    await payment_repo.payment_set(runtime.engine, pid, status, ref=f"ref-{pid}")
    await asyncio.sleep(0.002)  # created_at apart
    return pid


async def test_the_newest_authorized_payment_without_an_order_of_this_key_and_hold(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    event_id = (await make_event())["id"]
    eng = runtime.engine
    assert await payment_repo.reusable_payment(eng, "k1", "h1") is None
    older = await _payment(runtime, event_id, "k1", "h1", "authorized")
    newer = await _payment(runtime, event_id, "k1", "h1", "authorized")
    await _payment(runtime, event_id, "k1", "h1", "declined")
    await _payment(runtime, event_id, "k1", "h2", "authorized")  # another hold
    await _payment(runtime, event_id, "k2", "h1", "authorized")  # another key
    found = await payment_repo.reusable_payment(eng, "k1", "h1")
    assert found is not None and found.id == newer

    # the newer one gets its order (checkout step 3): the older is left
    await _give_order(runtime, event_id, newer)
    found = await payment_repo.reusable_payment(eng, "k1", "h1")
    assert found is not None and found.id == older
    await payment_repo.payment_set(eng, older, "voided")
    assert await payment_repo.reusable_payment(eng, "k1", "h1") is None
    assert await payment_repo.reusable_payment(eng, "k1", "h3") is None


async def _give_order(runtime: Runtime, event_id: str, payment_id: str) -> None:
    async with runtime.engine.begin() as conn:
        query = sa.text("SELECT venue_id FROM events WHERE id = :e")
        venue_id = (await conn.execute(query, {"e": event_id})).scalar_one()
        await conn.execute(
            orders.insert().values(
                id="ord_reuse",
                event_id=event_id,
                venue_id=venue_id,
                channel="online",
                status="paid",
                buyer_email="fan@example.org",
                buyer_email_norm="fan@example.org",
                buyer_name="Fan",
                total_cents=100,
                currency="EUR",
            )
        )
        await conn.execute(
            payments.update().where(payments.c.id == payment_id).values(order_id="ord_reuse")
        )


async def test_reuse_or_create_takes_the_same_payment_in_one_statement(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    """``reuse_or_create`` (checkout step 2: the lookup and the new row in one
    round trip) reuses what ``reusable_payment`` finds, else writes a new
    ``pending`` row."""
    event_id = (await make_event())["id"]
    eng = runtime.engine
    args = {
        "event_id": event_id,
        "provider": "test",
        "amount_cents": 100,
        "currency": "EUR",
        "last4": "4242",
    }
    first, created = await payment_repo.reuse_or_create(eng, hold_id="h1", key="k1", **args)
    assert created
    row = await payment_repo.get_payment(eng, first)
    assert row is not None and row.status == "pending" and row.hold_id == "h1"
    # pending is not reusable: another attempt gets a row of its own
    second, created = await payment_repo.reuse_or_create(eng, hold_id="h1", key="k1", **args)
    assert created and second != first
    await payment_repo.payment_set(eng, first, "authorized", ref="r1")
    await asyncio.sleep(0.002)
    await payment_repo.payment_set(eng, second, "authorized", ref="r2")
    again, created = await payment_repo.reuse_or_create(eng, hold_id="h1", key="k1", **args)
    assert not created and again == second  # the newest, as reusable_payment
    found = await payment_repo.reusable_payment(eng, "k1", "h1")
    assert found is not None and found.id == again
    other, created = await payment_repo.reuse_or_create(eng, hold_id="h2", key="k1", **args)
    assert created and other not in (first, second)
