"""Helpers of the staff and buyers' data tests: venues, staff keys, orders."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.conftest import ADMIN_TOKEN, auth, event_body

ROLES = ("manager", "boxoffice", "door", "viewer")


async def new_venue(client: httpx.AsyncClient, slug: str | None = None) -> dict[str, str]:
    r = await client.post(
        "/api/admin/venues",
        json={
            "name": "Venue",
            "slug": slug or f"v-{uuid.uuid4().hex[:10]}",
            "timezone": "Europe/Paris",
        },
        headers=auth(ADMIN_TOKEN),
    )
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


async def new_staff(
    client: httpx.AsyncClient, manager_key: str, role: str, email: str | None = None
) -> dict[str, str]:
    r = await client.post(
        "/api/admin/staff",
        json={"email": email or f"{role}-{uuid.uuid4().hex[:6]}@staff.example", "role": role},
        headers=auth(manager_key),
    )
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


async def new_event(client: httpx.AsyncClient, key: str, **kwargs: Any) -> dict[str, Any]:
    body = {**event_body(), **kwargs}
    r = await client.post("/api/admin/events", json=body, headers=auth(key))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def buy(
    client: httpx.AsyncClient,
    admit: Callable[[str], Awaitable[str]],
    event_id: str,
    email: str,
    name: str,
    *,
    quantity: int = 2,
    consent: bool | None = None,
) -> dict[str, Any]:
    """A paid online order of ``quantity`` general-admission places."""
    access = await admit(event_id)
    r = await client.post(
        f"/api/events/{event_id}/holds",
        json={"section": "FLOOR", "quantity": quantity},
        headers=auth(access),
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = {
        "buyer": {"email": email, "name": name},
        "payment": {"provider": "test", "card_number": "4242424242424242"},
    }
    if consent is not None:
        body["consent"] = {"marketing": consent}
    r = await client.post(
        f"/api/holds/{r.json()['hold_id']}/checkout",
        json=body,
        headers={**auth(access), "Idempotency-Key": f"k-{uuid.uuid4().hex}"},
    )
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    return order
