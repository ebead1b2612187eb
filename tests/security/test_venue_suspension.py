"""Issue 15: the platform operator suspends a venue (and resumes it). Old
code: ``POST /api/admin/venues/{id}/suspend`` answered 404 (no such route):
a venue could only be stopped by revoking every key, and its sale went on.

A suspended venue's keys get 403 ``forbidden`` on every venue route, its
events show ``closed`` and take no hold; nobody is admitted to them. The
data stays, and resuming brings everything back.
"""

from __future__ import annotations

import httpx

from onsale.runtime import Runtime
from tests.conftest import ADMIN_TOKEN, Admit, auth
from tests.integration.api_helpers import error_code
from tests.security._staff import new_event, new_staff, new_venue


async def test_suspension_stops_keys_and_sales_and_resume_brings_them_back(
    client: httpx.AsyncClient, runtime: Runtime, admitted: Admit
) -> None:
    venue = await new_venue(client)
    key = venue["api_key"]
    door = await new_staff(client, key, "door")
    event = await new_event(client, key)
    access = await admitted(event["id"])
    r = await client.post(f"/api/admin/venues/{venue['id']}/suspend", headers=auth(key))
    assert r.status_code == 401, "a venue cannot lift or set its own suspension"
    r = await client.post(f"/api/admin/venues/{venue['id']}/suspend", headers=auth(ADMIN_TOKEN))
    assert r.status_code == 200 and r.json()["suspended"] is True
    for k in (key, door["api_key"]):
        r = await client.get("/api/admin/me", headers=auth(k))
        assert r.status_code == 403 and error_code(r) == "forbidden"
    # The catalog caches an event two seconds; a fresh read sees the venue's state.
    event_row = await _fresh(client, runtime, event["id"])
    assert event_row["status"] == "closed"
    r = await client.post(
        f"/api/events/{event['id']}/holds",
        json={"section": "FLOOR", "quantity": 1},
        headers=auth(access),
    )
    assert r.status_code == 409 and error_code(r) == "sale_not_open", r.text
    r = await client.post(f"/api/admin/venues/{venue['id']}/resume", headers=auth(ADMIN_TOKEN))
    assert r.status_code == 200 and r.json()["suspended"] is False
    assert (await client.get("/api/admin/me", headers=auth(key))).status_code == 200
    assert (await _fresh(client, runtime, event["id"]))["status"] == "on_sale"
    r = await client.post("/api/admin/venues/ven_nope/suspend", headers=auth(ADMIN_TOKEN))
    assert r.status_code == 404


async def _fresh(client: httpx.AsyncClient, runtime: Runtime, event_id: str) -> dict[str, object]:
    """The public event as a process with an empty cache reads it."""
    runtime.events._cache.clear()
    r = await client.get(f"/api/events/{event_id}")
    assert r.status_code == 200
    body: dict[str, object] = r.json()
    return body
