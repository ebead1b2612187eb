"""Erasure (issue 15) reaches what the Stripe flow keeps about a buyer: the
buyer a payment was started for, on a paid order's payment and on a payment
that never became an order (I13)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import sqlalchemy as sa

from onsale.admin import erasure
from onsale.runtime import Runtime
from onsale.schema import payments
from tests.conftest import Admit, MakeEvent, auth
from tests.localstripe import LocalStripe
from tests.payments.test_stripe_flow import BUYER, checkout, connect, shop, start


async def buyers_of_payments(runtime: Runtime) -> list[tuple[str | None, str | None]]:
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(sa.select(payments.c.buyer_email, payments.c.buyer_name))).all()
    return [(r.buyer_email, r.buyer_name) for r in rows]


async def test_erasing_a_stripe_buyer_erases_their_payments_too(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
    localstripe: LocalStripe,
) -> None:
    await connect(client, venue)
    _, access, hold = await shop(client, admitted, make_event, {"section": "FLOOR", "quantity": 1})
    paid = (await start(client, access, hold["hold_id"])).json()
    assert await localstripe.confirm(paid["payment_id"]) == "requires_capture"
    r = await checkout(client, access, hold["hold_id"], paid["payment_id"])
    assert r.status_code == 201, r.text
    # A second hold whose payment was started and never finished.
    _, other, left = await shop(client, admitted, make_event, {"section": "FLOOR", "quantity": 1})
    assert (await start(client, other, left["hold_id"])).status_code == 201
    assert await buyers_of_payments(runtime) == [(BUYER["email"], BUYER["name"])] * 2

    r = await client.post(
        "/api/admin/buyers/erase", json={"email": BUYER["email"]}, headers=auth(venue["api_key"])
    )
    assert r.status_code == 200, r.text
    assert r.json()["orders_anonymized"] == 1
    assert await buyers_of_payments(runtime) == [(erasure.ERASED_EMAIL, erasure.ERASED_NAME)] * 2


async def test_without_the_payments_place_the_buyer_stays_on_them(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    """The negative control: erasure with the payments left out of its places
    leaves the buyer on the payment."""
    await connect(client, venue)
    _, access, hold = await shop(client, admitted, make_event, {"section": "FLOOR", "quantity": 1})
    assert (await start(client, access, hold["hold_id"])).status_code == 201
    places = tuple(p for p in erasure.PLACES if p.name != "payments")
    scope = erasure.Scope(venue["id"], (), (hold["hold_id"],), (BUYER["email"],), datetime.now(UTC))
    async with runtime.engine.begin() as conn:
        await erasure.anonymize(conn, scope, places)
    assert await buyers_of_payments(runtime) == [(BUYER["email"], BUYER["name"])]
    async with runtime.engine.begin() as conn:
        await erasure.anonymize(conn, scope)
    assert await buyers_of_payments(runtime) == [(erasure.ERASED_EMAIL, erasure.ERASED_NAME)]
