"""A whole sale through the API: event, queue, hold, checkout, refund."""

from __future__ import annotations

import uuid

import httpx

from onsale.runtime import Runtime
from tests.conftest import Admit, MakeEvent, auth

CARD = {"provider": "test", "card_number": "4242424242424242"}
BUYER = {"email": "fan@example.org", "name": "Camille"}


async def test_a_sale_from_creation_to_refund(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    event = await make_event()
    access = await admitted(event["id"])

    r = await client.post(
        f"/api/events/{event['id']}/holds",
        json={"seats": ["BALC-A-1", "BALC-A-2"]},
        headers=auth(access),
    )
    assert r.status_code == 201, r.text
    hold = r.json()
    assert hold["seats"] == ["BALC-A-1", "BALC-A-2"]

    seats = (await client.get(f"/api/events/{event['id']}/seats")).json()["seats"]
    states = {s["id"]: s["state"] for s in seats}
    assert states["BALC-A-1"] == "held" and states["BALC-A-3"] == "free"

    key = str(uuid.uuid4())
    r = await client.post(
        f"/api/holds/{hold['hold_id']}/checkout",
        json={"buyer": BUYER, "payment": CARD},
        headers={**auth(access), "Idempotency-Key": key},
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["total_cents"] == 2 * (2500 + 100)
    assert [t["seat"] for t in order["tickets"]] == ["BALC-A-1", "BALC-A-2"]

    seats = (await client.get(f"/api/events/{event['id']}/seats")).json()["seats"]
    states = {s["id"]: s["state"] for s in seats}
    assert states["BALC-A-1"] == "sold"

    r = await client.get(f"/api/orders/{order['order_id']}", headers=auth(order["order_token"]))
    assert r.status_code == 200 and r.json()["status"] == "paid"

    stats = (
        await client.get(f"/api/admin/events/{event['id']}/stats", headers=auth(venue["api_key"]))
    ).json()
    assert stats["sold"] == 2 and stats["orders"] == 1 and stats["revenue_cents"] == 5200

    r = await client.post(
        f"/api/admin/orders/{order['order_id']}/refund", headers=auth(venue["api_key"])
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "refunded"
    seats = (await client.get(f"/api/events/{event['id']}/seats")).json()["seats"]
    states = {s["id"]: s["state"] for s in seats}
    assert states["BALC-A-1"] == "free" and states["BALC-A-2"] == "free"
