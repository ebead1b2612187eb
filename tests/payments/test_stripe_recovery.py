"""Crashes and refunds with Stripe, against a real localstripe: the
reconciler captures an order's payment that a crash left uncaptured, and
cancels an authorization a crash left without an order; a refund goes
through Stripe once."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from onsale import faults
from onsale.runtime import Runtime
from onsale.schema import orders, payment_notices, payments
from tests.conftest import Admit, MakeEvent, auth
from tests.localstripe import LocalStripe
from tests.payments.test_stripe_flow import BUYER, checkout, connect, shop, start


async def authorized(
    client: httpx.AsyncClient,
    runtime: Runtime,
    admitted: Admit,
    make_event: MakeEvent,
    localstripe: LocalStripe,
) -> tuple[Any, str, str, dict[str, Any], str]:
    """(event, entry, access, hold, PaymentIntent id), authorized at Stripe."""
    event, access, hold = await shop(
        client, admitted, make_event, {"section": "FLOOR", "quantity": 1}
    )
    r = await start(client, access, hold["hold_id"])
    assert r.status_code == 201, r.text
    intent_id = r.json()["payment_id"]
    assert await localstripe.confirm(intent_id) == "requires_capture"
    entry = runtime.signer.access(access, None, time.time()).subject
    return await runtime.events.get(event["id"]), entry, access, hold, intent_id


def stripe_body(intent_id: str) -> dict[str, Any]:
    return {"buyer": BUYER, "payment": {"provider": "stripe", "payment_id": intent_id}}


async def table(runtime: Runtime, t: sa.Table) -> list[Any]:
    async with runtime.engine.connect() as conn:
        return list((await conn.execute(sa.select(t))).all())


async def test_a_crash_between_order_and_capture_is_captured_by_the_reconciler(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    await connect(client, venue)
    event, entry, _, hold, intent_id = await authorized(
        client, runtime, admitted, make_event, localstripe
    )
    runtime.checkout.faults.arm(faults.AFTER_ORDER_COMMIT)
    with pytest.raises(faults.InjectedCrash):
        await runtime.checkout.checkout(
            event, hold["hold_id"], entry, str(uuid.uuid4()), stripe_body(intent_id)
        )
    runtime.checkout.faults.disarm(faults.AFTER_ORDER_COMMIT)
    # The order is written, the money only authorized: what the crash left.
    assert len(await table(runtime, orders)) == 1
    assert await localstripe.status(intent_id) == "requires_capture"
    repairs = await runtime.reconciler.run_once([event])
    assert repairs.counts["payment_captured"] == 1
    assert await localstripe.status(intent_id) == "succeeded"
    assert [p.status for p in await table(runtime, payments)] == ["captured"]
    # Again: nothing more to do.
    assert (await runtime.reconciler.run_once([event])).counts["payment_captured"] == 0


async def test_a_crash_between_authorization_and_order_is_cancelled_by_the_reconciler(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    await connect(client, venue)
    event, entry, _, hold, intent_id = await authorized(
        client, runtime, admitted, make_event, localstripe
    )
    runtime.checkout.faults.arm(faults.AFTER_AUTHORIZE)
    with pytest.raises(faults.InjectedCrash):
        await runtime.checkout.checkout(
            event, hold["hold_id"], entry, str(uuid.uuid4()), stripe_body(intent_id)
        )
    runtime.checkout.faults.disarm(faults.AFTER_AUTHORIZE)
    # Money authorized, no order: what the crash left.
    assert await table(runtime, orders) == []
    assert await localstripe.status(intent_id) == "requires_capture"
    # The test settings make an orphan stale at once (ONSALE_ORPHAN_PAYMENT_SECONDS=0).
    repairs = await runtime.reconciler.run_once([event])
    assert repairs.counts["payment_voided"] == 1
    assert await localstripe.status(intent_id) == "canceled"
    assert [p.status for p in await table(runtime, payments)] == ["voided"]
    assert [(n.buyer_email, n.reason) for n in await table(runtime, payment_notices)] == [
        (BUYER["email"], "not_completed")
    ]


async def test_an_unconfirmed_payment_intent_is_left_to_the_fan(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    """A fan still typing their card is not cancelled under their fingers:
    only an authorization without an order is an orphan at once."""
    await connect(client, venue)
    event, access, hold = await shop(
        client, admitted, make_event, {"section": "FLOOR", "quantity": 1}
    )
    intent_id = (await start(client, access, hold["hold_id"])).json()["payment_id"]
    live = await runtime.events.get(event["id"])
    repairs = await runtime.reconciler.run_once([live])
    assert repairs.counts["payment_voided"] == 0
    assert await localstripe.status(intent_id) == "requires_payment_method"
    # Confirmed at Stripe, neither checkout nor webhook seen yet: the orphan
    # delay starts when the reconciler first sees it authorized.
    assert await localstripe.confirm(intent_id) == "requires_capture"
    assert (await runtime.reconciler.run_once([live])).counts["payment_voided"] == 0
    assert await localstripe.status(intent_id) == "requires_capture"
    # Still nothing after the delay (0 s in the tests): cancelled, the fan told.
    assert (await runtime.reconciler.run_once([live])).counts["payment_voided"] == 1
    assert await localstripe.status(intent_id) == "canceled"


async def test_a_refund_goes_through_stripe_once(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    await connect(client, venue)
    event, _, access, hold, intent_id = await authorized(
        client, runtime, admitted, make_event, localstripe
    )
    r = await checkout(client, access, hold["hold_id"], intent_id)
    assert r.status_code == 201, r.text
    order_id = r.json()["order_id"]
    for _ in range(2):
        r = await client.post(
            f"/api/admin/orders/{order_id}/refund", headers=auth(venue["api_key"])
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "refunded"
    refunds = await localstripe.refunds(intent_id)
    assert [(x.amount, x.status) for x in refunds] == [(2600, "succeeded")]
    assert [p.status for p in await table(runtime, payments)] == ["refunded"]
    # The place is back on sale.
    info = (await client.get(f"/api/events/{event.id}")).json()
    assert {s["code"]: s["available"] for s in info["sections"]}["FLOOR"] == 100
