"""Helpers shared by the API tests: reading answers, holding, the payment ledger."""

from __future__ import annotations

from typing import Any

import httpx

from onsale.payments import providers as payments
from onsale.runtime import Runtime
from tests.conftest import auth


def error_code(r: httpx.Response) -> str:
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    code: str = body["error"]["code"]
    return code


async def seat_states(client: httpx.AsyncClient, event_id: str) -> dict[str, str]:
    r = await client.get(f"/api/events/{event_id}/seats")
    assert r.status_code == 200, r.text
    return {s["id"]: s["state"] for s in r.json()["seats"]}


async def hold(
    client: httpx.AsyncClient, event_id: str, access: str, body: dict[str, Any]
) -> dict[str, Any]:
    r = await client.post(f"/api/events/{event_id}/holds", json=body, headers=auth(access))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def charges(runtime: Runtime) -> list[tuple[int, str]]:
    provider = runtime.providers["test"]
    assert isinstance(provider, payments.TestProvider)
    return sorted((c.amount_cents, c.status) for c in provider.charges.values())


async def join(
    client: httpx.AsyncClient, event_id: str, token: str | None = None
) -> dict[str, Any]:
    """The join answer (201 new, 200 the same entry again) of a fan."""
    r = await client.post(f"/api/events/{event_id}/queue", headers=auth(token) if token else {})
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body
