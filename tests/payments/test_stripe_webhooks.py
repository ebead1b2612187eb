"""Stripe's webhooks against a real localstripe: a fan who paid and left
still gets the order (or, when the places were sold meanwhile, the payment
is cancelled and the notice recorded); a replayed event changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from onsale.runtime import Runtime
from onsale.schema import orders, payment_notices, stripe_events
from tests.conftest import Admit, MakeEvent, auth
from tests.localstripe import LocalStripe, signed
from tests.payments.test_stripe_flow import BUYER, checkout, connect, shop, start

AUTHORIZED = "payment_intent.amount_capturable_updated"


async def paid_and_left(
    client: httpx.AsyncClient,
    admitted: Admit,
    make_event: MakeEvent,
    localstripe: LocalStripe,
    hold_body: dict[str, Any],
) -> tuple[dict[str, Any], str, dict[str, Any], str]:
    """(event, access, hold, PaymentIntent id) of a fan who confirmed the
    payment with Stripe.js and closed the tab before checkout."""
    event, access, hold = await shop(client, admitted, make_event, hold_body)
    r = await start(client, access, hold["hold_id"])
    assert r.status_code == 201, r.text
    intent_id = r.json()["payment_id"]
    assert await localstripe.confirm(intent_id) == "requires_capture"
    return event, access, hold, intent_id


async def webhook(
    client: httpx.AsyncClient, venue_id: str, payload: bytes, headers: dict[str, str]
) -> httpx.Response:
    return await client.post(f"/api/webhooks/stripe/{venue_id}", content=payload, headers=headers)


async def rows(runtime: Runtime, table: sa.Table) -> list[Any]:
    async with runtime.engine.connect() as conn:
        return list((await conn.execute(sa.select(table))).all())


async def test_a_fan_who_left_gets_the_order_from_the_webhook(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    await connect(client, venue)
    event, access, hold, intent_id = await paid_and_left(
        client, admitted, make_event, localstripe, {"section": "BALC", "seats": ["BALC-A-1"]}
    )
    payload, headers = signed(AUTHORIZED, {"id": intent_id, "object": "payment_intent"})
    r = await webhook(client, venue["id"], payload, headers)
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "order_written"
    written = await rows(runtime, orders)
    assert [(o.buyer_email, o.status) for o in written] == [(BUYER["email"], "paid")]
    assert await localstripe.status(intent_id) == "succeeded"  # captured
    seats = (await client.get(f"/api/events/{event['id']}/seats")).json()
    assert "BALC-A-1" in str(seats)
    # The fan's page comes back: the checkout gets that same order.
    r = await checkout(client, access, hold["hold_id"], intent_id)
    assert r.status_code in (200, 201), r.text
    assert r.json()["order_id"] == written[0].id
    assert len(await rows(runtime, orders)) == 1


async def test_a_replayed_event_changes_nothing(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    await connect(client, venue)
    _, _, _, intent_id = await paid_and_left(
        client, admitted, make_event, localstripe, {"section": "FLOOR", "quantity": 2}
    )
    payload, headers = signed(AUTHORIZED, {"id": intent_id}, event_id="evt_once")
    first = await webhook(client, venue["id"], payload, headers)
    assert first.json()["outcome"] == "order_written"
    again = await webhook(client, venue["id"], payload, headers)
    assert again.status_code == 200 and again.json()["outcome"] == "replayed"
    # Another event about the same payment finds its order written already.
    payload, headers = signed(AUTHORIZED, {"id": intent_id}, event_id="evt_twice")
    other = await webhook(client, venue["id"], payload, headers)
    assert other.json()["outcome"] == "done_already"
    assert len(await rows(runtime, orders)) == 1
    assert sorted(e.id for e in await rows(runtime, stripe_events)) == ["evt_once", "evt_twice"]


async def test_released_places_still_free_are_held_again_for_the_order(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    await connect(client, venue)
    _, access, hold, intent_id = await paid_and_left(
        client, admitted, make_event, localstripe, {"section": "BALC", "seats": ["BALC-B-2"]}
    )
    # The hold ended (released here; an expiry ends it the same way).
    r = await client.delete(f"/api/holds/{hold['hold_id']}", headers=auth(access))
    assert r.status_code in (200, 204), r.text
    payload, headers = signed(AUTHORIZED, {"id": intent_id})
    r = await webhook(client, venue["id"], payload, headers)
    assert r.json()["outcome"] == "order_written"
    assert await localstripe.status(intent_id) == "succeeded"


async def test_places_sold_meanwhile_cancel_the_payment_and_the_fan_is_told(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    await connect(client, venue)
    event, access, hold, intent_id = await paid_and_left(
        client, admitted, make_event, localstripe, {"section": "BALC", "seats": ["BALC-A-3"]}
    )
    r = await client.delete(f"/api/holds/{hold['hold_id']}", headers=auth(access))
    assert r.status_code in (200, 204), r.text
    # Someone else buys the seat meanwhile (test provider).
    other = await admitted(event["id"])
    r = await client.post(
        f"/api/events/{event['id']}/holds", json={"seats": ["BALC-A-3"]}, headers=auth(other)
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/holds/{r.json()['hold_id']}/checkout",
        json={
            "buyer": {"email": "other@example.org", "name": "Dominique"},
            "payment": {"provider": "test", "card_number": "4242424242424242"},
        },
        headers={**auth(other), "Idempotency-Key": "other-checkout-1"},
    )
    assert r.status_code == 201, r.text
    payload, headers = signed(AUTHORIZED, {"id": intent_id})
    r = await webhook(client, venue["id"], payload, headers)
    assert r.status_code == 200 and r.json()["outcome"] == "cancelled"
    assert await localstripe.status(intent_id) == "canceled"
    assert [(n.buyer_email, n.reason) for n in await rows(runtime, payment_notices)] == [
        (BUYER["email"], "places_sold")
    ]
    assert [o.buyer_email for o in await rows(runtime, orders)] == ["other@example.org"]
