"""Paying through a venue's own Stripe account, against a real localstripe:
the whole flow, a declined card, a PaymentIntent of another hold, and the
venue without an account."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from onsale.checkout.service import MAX_DECLINES
from onsale.runtime import Runtime
from onsale.schema import payments
from tests.conftest import Admit, MakeEvent, auth
from tests.localstripe import ACCOUNT, DECLINED_CARD, PUBLISHABLE_KEY, LocalStripe

BUYER = {"email": "fan@example.org", "name": "Camille"}


async def connect(client: httpx.AsyncClient, venue: dict[str, str]) -> None:
    r = await client.put("/api/admin/payment-account", json=ACCOUNT, headers=auth(venue["api_key"]))
    assert r.status_code == 200, r.text


async def shop(
    client: httpx.AsyncClient, admitted: Admit, make_event: MakeEvent, body: dict[str, Any]
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(event, access token, hold) of an admitted fan holding ``body``."""
    event = await make_event()
    access = await admitted(event["id"])
    r = await client.post(f"/api/events/{event['id']}/holds", json=body, headers=auth(access))
    assert r.status_code == 201, r.text
    return event, access, r.json()


async def start(
    client: httpx.AsyncClient, access: str, hold_id: str, key: str | None = None
) -> httpx.Response:
    return await client.post(
        f"/api/holds/{hold_id}/payment",
        json={"buyer": BUYER},
        headers={**auth(access), "Idempotency-Key": key or str(uuid.uuid4())},
    )


async def checkout(
    client: httpx.AsyncClient, access: str, hold_id: str, payment_id: str, key: str | None = None
) -> httpx.Response:
    return await client.post(
        f"/api/holds/{hold_id}/checkout",
        json={"buyer": BUYER, "payment": {"provider": "stripe", "payment_id": payment_id}},
        headers={**auth(access), "Idempotency-Key": key or str(uuid.uuid4())},
    )


async def payment_rows(runtime: Runtime) -> list[Any]:
    async with runtime.engine.connect() as conn:
        return list((await conn.execute(sa.select(payments))).all())


async def test_the_whole_flow_pays_through_stripe(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    await connect(client, venue)
    got = await client.get("/api/admin/payment-account", headers=auth(venue["api_key"]))
    assert got.json() == {
        "provider": "stripe",
        "publishable_key": PUBLISHABLE_KEY,
        "configured": True,
        "webhook_path": f"/api/webhooks/stripe/{venue['id']}",
    }
    event, access, hold = await shop(
        client, admitted, make_event, {"section": "FLOOR", "quantity": 2}
    )
    r = await start(client, access, hold["hold_id"], key="payment-key-1")
    assert r.status_code == 201, r.text
    started = r.json()
    assert started["provider"] == "stripe"
    assert started["amount_cents"] == 5200 and started["currency"] == "EUR"
    assert started["publishable_key"] == PUBLISHABLE_KEY
    assert started["client_secret"].startswith(started["payment_id"])
    # The same key again: the same PaymentIntent.
    again = await start(client, access, hold["hold_id"], key="payment-key-1")
    assert again.status_code == 201 and again.json() == started
    intent = await localstripe.intent(started["payment_id"])
    assert intent.capture_method == "manual" and intent.amount == 5200
    assert intent.metadata["hold_id"] == hold["hold_id"]
    assert intent.metadata["event_id"] == event["id"]

    assert await localstripe.confirm(started["payment_id"]) == "requires_capture"
    r = await checkout(client, access, hold["hold_id"], started["payment_id"], key="checkout-1")
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "paid" and order["total_cents"] == 5200
    assert await localstripe.status(started["payment_id"]) == "succeeded"  # captured
    rows = await payment_rows(runtime)
    assert [(p.status, p.order_id) for p in rows] == [("captured", order["order_id"])]
    # The checkout again with its key: the same order (I3).
    pi = started["payment_id"]
    replay = await checkout(client, access, hold["hold_id"], pi, key="checkout-1")
    assert replay.status_code == 200 and replay.json()["order_id"] == order["order_id"]


async def test_a_declined_card_is_402_and_the_decline_limit_carries_over(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    await connect(client, venue)
    _, access, hold = await shop(client, admitted, make_event, {"section": "FLOOR", "quantity": 1})
    started = (await start(client, access, hold["hold_id"])).json()
    assert await localstripe.confirm(started["payment_id"], DECLINED_CARD) == (
        "requires_payment_method"
    )
    for _ in range(MAX_DECLINES):
        r = await checkout(client, access, hold["hold_id"], started["payment_id"])
        assert r.status_code == 402, r.text
        assert r.json()["error"]["code"] == "payment_declined"
    r = await checkout(client, access, hold["hold_id"], started["payment_id"])
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert "retry-after" in r.headers
    r = await start(client, access, hold["hold_id"])
    assert r.status_code == 429
    assert [p.order_id for p in await payment_rows(runtime)] == [None]


async def test_a_payment_of_another_hold_is_a_mismatch(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    await connect(client, venue)
    event, access, cheap = await shop(
        client, admitted, make_event, {"section": "FLOOR", "quantity": 1}
    )
    # Another fan's hold (a fan has one hold at a time).
    other_access = await admitted(event["id"])
    r = await client.post(
        f"/api/events/{event['id']}/holds",
        json={"section": "FLOOR", "quantity": 1},
        headers=auth(other_access),
    )
    other = r.json()
    r = await start(client, access, cheap["hold_id"])
    assert r.status_code == 201, r.text
    paid = r.json()
    assert await localstripe.confirm(paid["payment_id"]) == "requires_capture"
    # The authorized PaymentIntent of one hold cannot pay for another.
    r = await checkout(client, other_access, other["hold_id"], paid["payment_id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "payment_mismatch"
    # Nor can one made at Stripe by someone else, whatever its metadata says.
    forged = await localstripe.create_intent(
        {
            "amount": 2600,
            "currency": "eur",
            "capture_method": "manual",
            "metadata": {"hold_id": other["hold_id"]},
        }
    )
    assert await localstripe.confirm(forged.id) == "requires_capture"
    r = await checkout(client, other_access, other["hold_id"], forged.id)
    assert r.status_code == 409 and r.json()["error"]["code"] == "payment_mismatch"
    # The hold is still the fan's, and the right payment still pays for its own.
    r = await checkout(client, access, cheap["hold_id"], paid["payment_id"])
    assert r.status_code == 201, r.text


async def test_without_an_account_payments_are_not_configured(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    got = await client.get("/api/admin/payment-account", headers=auth(venue["api_key"]))
    assert got.json()["configured"] is False and got.json()["publishable_key"] is None
    _, access, hold = await shop(client, admitted, make_event, {"section": "FLOOR", "quantity": 1})
    r = await start(client, access, hold["hold_id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "payments_not_configured"
    assert await payment_rows(runtime) == []


async def test_a_hold_gets_a_few_payment_intents_at_most(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    """Each new Idempotency-Key makes a PaymentIntent at the venue's Stripe
    account: one hold cannot make them without end."""
    from onsale.checkout.stripe_checkout import MAX_INTENTS_PER_HOLD

    await connect(client, venue)
    _, access, hold = await shop(client, admitted, make_event, {"section": "FLOOR", "quantity": 1})
    for _ in range(MAX_INTENTS_PER_HOLD):
        assert (await start(client, access, hold["hold_id"])).status_code == 201
    r = await start(client, access, hold["hold_id"])
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    assert len(await payment_rows(runtime)) == MAX_INTENTS_PER_HOLD
