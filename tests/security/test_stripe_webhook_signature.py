"""Stripe's webhooks are believed only when signed with the venue's own
webhook secret, fresh (5 minutes), and handled once.

Before issue 13 there was no webhook route (``POST /api/webhooks/stripe/...``
answered 404): nothing could tell onsale that a fan had paid. Now that a
webhook writes orders, a forged, stale, unsigned or misdirected one must be
a 400 that changes nothing (no event recorded, no order, no Stripe call).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from onsale.runtime import Runtime
from onsale.schema import orders, stripe_events
from tests.conftest import ADMIN_TOKEN, auth
from tests.localstripe import ACCOUNT, signed

EVENT = "payment_intent.amount_capturable_updated"
OBJ = {"id": "pi_forged0000", "object": "payment_intent"}


async def _connect(client: httpx.AsyncClient, api_key: str, **changes: str) -> None:
    r = await client.put(
        "/api/admin/payment-account", json={**ACCOUNT, **changes}, headers=auth(api_key)
    )
    assert r.status_code == 200, r.text


async def _nothing_changed(runtime: Runtime) -> None:
    async with runtime.engine.connect() as conn:
        assert (
            await conn.execute(sa.select(sa.func.count()).select_from(stripe_events))
        ).scalar() == 0
        assert (await conn.execute(sa.select(sa.func.count()).select_from(orders))).scalar() == 0


def _cases() -> dict[str, tuple[bytes, dict[str, str]]]:
    good, headers = signed(EVENT, OBJ)
    forged = signed(EVENT, OBJ, secret="whsec_not_the_venues")
    stale = signed(EVENT, OBJ, at=int(time.time()) - 600)
    tampered = good.replace(b"pi_forged0000", b"pi_other00000")
    return {
        "forged": forged,
        "stale": stale,
        "unsigned": (good, {"Content-Type": "application/json"}),
        "garbled header": (good, {"Stripe-Signature": "t=abc,v1=zz"}),
        "tampered body": (tampered, headers),
        "not json": (b"\xff\xfe", headers),
    }


@pytest.mark.parametrize("case", list(_cases()))
async def test_a_bad_signature_is_400_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], case: str
) -> None:
    await _connect(client, venue["api_key"])
    payload, headers = _cases()[case]
    r = await client.post(f"/api/webhooks/stripe/{venue['id']}", content=payload, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_request"
    await _nothing_changed(runtime)


async def test_an_event_signed_for_another_venue_is_400(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str]
) -> None:
    await _connect(client, venue["api_key"])
    r = await client.post(
        "/api/admin/venues",
        json={"name": "Autre salle", "slug": "autresalle", "timezone": "Europe/Paris"},
        headers=auth(ADMIN_TOKEN),
    )
    other: dict[str, Any] = r.json()
    await _connect(client, other["api_key"], webhook_secret="whsec_the_other_venue")
    payload, headers = signed(EVENT, OBJ)  # signed with the first venue's secret
    r = await client.post(f"/api/webhooks/stripe/{other['id']}", content=payload, headers=headers)
    assert r.status_code == 400
    # A venue that has no account, or does not exist, answers the same.
    r = await client.post("/api/webhooks/stripe/ven_nobody", content=payload, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    await _nothing_changed(runtime)


async def test_a_signed_event_is_recorded(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str]
) -> None:
    """The control: the same request, signed right, gets through (it names
    a PaymentIntent onsale never made, so nothing else happens)."""
    await _connect(client, venue["api_key"])
    payload, headers = signed(EVENT, OBJ)
    r = await client.post(f"/api/webhooks/stripe/{venue['id']}", content=payload, headers=headers)
    assert r.status_code == 200 and r.json()["outcome"] == "unknown_payment"
