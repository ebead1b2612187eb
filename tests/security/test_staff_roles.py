"""Issue 15: staff and roles. Each person gets their own key with a role; a
role that may not do something gets 403 ``forbidden``: the viewer reads
events, stats and orders; the door scans; the box office sells at the
counter; the manager does everything (refunds, exports, staff, keys, the
audit log, the buyers' data). The venue's own key acts as a manager.

Old code: one key per venue, which could do everything: ``POST
/api/admin/staff`` answered 404 (no such route), so every person at the venue
(the student at the counter, the volunteer at the door) held the key that
refunds, exports every buyer and changes every event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from onsale.admin.roles import ALLOWED, Action
from onsale.app import create_app
from onsale.runtime import Runtime
from onsale.settings import Settings
from tests import live_server
from tests.conftest import ADMIN_TOKEN, Admit, auth
from tests.integration.api_helpers import error_code
from tests.security._staff import buy, new_event, new_staff, new_venue

READERS = {"manager", "boxoffice", "viewer"}
MANAGER = {"manager"}
SELLERS = {"manager", "boxoffice"}
PLATFORM_ONLY: set[str] = set()


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # with {event}, {order}, {staff}, {key}, {venue}
    roles: set[str]  # the roles that may (API.md's sentence, spelled out)
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()


SALE = {
    "section": "FLOOR",
    "quantity": 1,
    "buyer": {"email": "counter@example.org", "name": "Counter"},
    "payment": {"provider": "cash"},
}

# Every venue route of the admin API, with the roles that may call it.
CASES = [
    Case("GET", "/api/admin/me", {"manager", "boxoffice", "door", "viewer"}),
    Case("GET", "/api/admin/events", READERS),
    Case("POST", "/api/admin/events", MANAGER, body={}),
    Case("GET", "/api/admin/events/{event}", READERS),
    Case("PATCH", "/api/admin/events/{event}", MANAGER, body={"name": "Renamed"}),
    Case("GET", "/api/admin/events/{event}/stats", READERS),
    Case("GET", "/api/admin/events/{event}/orders", READERS),
    Case("GET", "/api/admin/events/{event}/orders.csv", MANAGER),
    Case("GET", "/api/admin/events/{event}/orders", MANAGER, headers=(("accept", "text/csv"),)),
    Case("POST", "/api/admin/events/{event}/boxoffice", SELLERS, body=SALE),
    Case("POST", "/api/admin/orders/{order}/refund", MANAGER),
    Case("GET", "/api/admin/venue-keys", MANAGER),
    Case("POST", "/api/admin/venue-keys/rotate", MANAGER, body={"grace_seconds": 60}),
    Case("DELETE", "/api/admin/venue-keys/{key}", MANAGER),
    Case("GET", "/api/admin/staff", MANAGER),
    Case("POST", "/api/admin/staff", MANAGER, body={"email": "x@staff.example", "role": "door"}),
    Case("DELETE", "/api/admin/staff/{staff}", MANAGER),
    Case("GET", "/api/admin/audit", MANAGER),
    Case("GET", "/api/admin/buyers?email=fan@example.org", MANAGER),
    Case("POST", "/api/admin/buyers/erase", MANAGER, body={"email": "fan@example.org"}),
    Case("GET", "/api/admin/consents", MANAGER),
    Case("GET", "/api/admin/consents.csv", MANAGER),
    Case("GET", "/api/admin/venue-settings", MANAGER),
    Case("PUT", "/api/admin/venue-settings", MANAGER, body={}),
    Case("GET", "/api/admin/payment-account", MANAGER),
    Case("POST", "/api/admin/events/{event}/door-keys", MANAGER, body={"label": "Gate"}),
    Case("GET", "/api/admin/events/{event}/door-keys", MANAGER),
    Case("DELETE", "/api/admin/events/{event}/door-keys/{key}", MANAGER),
    Case("GET", "/api/admin/events/{event}/door", READERS),
    Case("POST", "/api/admin/orders/{order}/resend", SELLERS),
    Case("PUT", "/api/admin/payment-account", MANAGER, body={}),
    # The platform's: no venue key of any role (401: the platform token only).
    Case("POST", "/api/admin/venues", PLATFORM_ONLY, body={}),
    Case("POST", "/api/admin/venues/{venue}/keys", PLATFORM_ONLY, body={}),
    Case("POST", "/api/admin/venues/{venue}/suspend", PLATFORM_ONLY),
    Case("POST", "/api/admin/venues/{venue}/resume", PLATFORM_ONLY),
]
PLATFORM_PATHS = {c.path for c in CASES if c.roles is PLATFORM_ONLY}
# Callers in an order where nothing an allowed one does hides a later cell.
CALLERS = ("viewer", "door", "boxoffice", "staff_manager", "venue")


def _template(path: str) -> str:
    path = path.split("?")[0]
    for name, param in (
        ("{event}", "{event_id}"),
        ("{order}", "{order_id}"),
        ("{staff}", "{staff_id}"),
        ("{key}", "{key_id}"),
        ("{venue}", "{venue_id}"),
    ):
        path = path.replace(name, param)
    return path


def test_every_admin_route_is_in_the_matrix(runtime: Runtime) -> None:
    """A venue route added without its row here fails: the matrix covers
    every route the app serves under /api/admin."""
    served = {
        (m, r.path)
        for r in create_app(runtime.settings, runtime=runtime).routes
        if isinstance(r, Route) and r.path.startswith("/api/admin")
        for m in (r.methods or set()) - {"HEAD"}
    }
    listed = {(c.method, _template(c.path)) for c in CASES}
    assert served - listed == set()


def test_the_action_table_covers_every_action() -> None:
    assert set(ALLOWED) == set(Action)
    assert all("manager" in roles for roles in ALLOWED.values())
    assert ALLOWED[Action.SCAN] == {"manager", "door"}


async def _world(client: httpx.AsyncClient, admitted: Admit) -> dict[str, Any]:
    venue = await new_venue(client)
    manager_key = venue["api_key"]
    keys = {"venue": manager_key}
    for role in ("viewer", "door", "boxoffice"):
        keys[role] = (await new_staff(client, manager_key, role))["api_key"]
    keys["staff_manager"] = (await new_staff(client, manager_key, "manager"))["api_key"]
    event = await new_event(client, manager_key)
    order = await buy(client, admitted, event["id"], "fan@example.org", "Fan")
    target = await new_staff(client, manager_key, "viewer")
    listed = (await client.get("/api/admin/venue-keys", headers=auth(manager_key))).json()
    door_key_id = next(k["key_id"] for k in listed["keys"] if k["role"] == "door")
    return {
        "keys": keys,
        "ids": {
            "{event}": event["id"],
            "{order}": order["order_id"],
            "{staff}": target["staff_id"],
            "{key}": door_key_id,
            "{venue}": venue["id"],
        },
    }


def _role(caller: str) -> str:
    return "manager" if caller in ("venue", "staff_manager") else caller


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_role_matrix(client: httpx.AsyncClient, admitted: Admit, case: Case) -> None:
    """Each cell: a role that may passes the role check (any answer but 401
    and 403: a body may still be invalid), a role that may not gets 403
    ``forbidden`` and changes nothing. Old code: every key passed (the route
    answered as for the venue), or 404 for the routes this work added."""
    world = await _world(client, admitted)
    path = case.path
    for name, value in world["ids"].items():
        path = path.replace(name, value)
    cells: dict[str, tuple[int, str]] = {}
    for caller in CALLERS:
        if case.path.endswith("/venue-keys/{key}") and caller == "door":
            continue  # revoking the door's own key: the venue's manager does it below
        r = await client.request(
            case.method,
            path,
            json=case.body,
            headers={**auth(world["keys"][caller]), **dict(case.headers)},
        )
        cells[caller] = (r.status_code, error_code(r) if r.status_code >= 400 else "")
    for caller, (status, code) in cells.items():
        role = _role(caller)
        if case.roles is PLATFORM_ONLY:
            assert status == 401, (caller, status, code)
        elif role in case.roles:
            assert status not in (401, 403) and status < 500, (caller, status, code)
        else:
            assert (status, code) == (403, "forbidden"), (caller, status, code)


async def test_a_refused_role_changes_nothing(client: httpx.AsyncClient, admitted: Admit) -> None:
    """Old code: the shared key refunded (200). Now a box office key's refund
    is 403 and the order stays paid; a viewer cannot rename an event."""
    world = await _world(client, admitted)
    order_id, event_id = world["ids"]["{order}"], world["ids"]["{event}"]
    r = await client.post(
        f"/api/admin/orders/{order_id}/refund", headers=auth(world["keys"]["boxoffice"])
    )
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = await client.patch(
        f"/api/admin/events/{event_id}",
        json={"name": "Hijacked"},
        headers=auth(world["keys"]["viewer"]),
    )
    assert r.status_code == 403
    orders = (
        await client.get(
            f"/api/admin/events/{event_id}/orders", headers=auth(world["keys"]["viewer"])
        )
    ).json()["orders"]
    assert [o["status"] for o in orders] == ["paid"]
    event = (
        await client.get(f"/api/admin/events/{event_id}", headers=auth(world["keys"]["viewer"]))
    ).json()
    assert event["name"] == "Night show"


async def test_who_am_i_tells_the_page_what_to_show(
    client: httpx.AsyncClient, admitted: Admit
) -> None:
    """Old code: 404. The page asks who the key is and shows only that."""
    world = await _world(client, admitted)
    door = (await client.get("/api/admin/me", headers=auth(world["keys"]["door"]))).json()
    assert door["role"] == "door" and door["actions"] == ["scan", "who_am_i"]
    assert door["staff_email"].startswith("door-")
    venue = (await client.get("/api/admin/me", headers=auth(world["keys"]["venue"]))).json()
    assert venue["role"] == "manager" and venue["staff_id"] is None
    assert set(venue["actions"]) == {a.value for a in Action}


async def test_the_platform_token_reads_no_orders_and_no_buyers(
    client: httpx.AsyncClient, admitted: Admit
) -> None:
    """The platform operator creates and suspends venues, but cannot list any
    venue's orders, buyers, consents, staff or audit log: those routes take a
    venue key only (401 with the platform token)."""
    world = await _world(client, admitted)
    event_id = world["ids"]["{event}"]
    for path in (
        "/api/admin/events",
        f"/api/admin/events/{event_id}/orders",
        f"/api/admin/events/{event_id}/orders.csv",
        "/api/admin/buyers?email=fan@example.org",
        "/api/admin/consents",
        "/api/admin/staff",
        "/api/admin/audit",
        "/api/admin/me",
    ):
        r = await client.get(path, headers=auth(ADMIN_TOKEN))
        assert r.status_code == 401, (path, r.status_code)
        assert "fan@example.org" not in r.text
    r = await client.post(
        "/api/admin/buyers/erase", json={"email": "fan@example.org"}, headers=auth(ADMIN_TOKEN)
    )
    assert r.status_code == 401


async def test_staff_list_and_revocation(client: httpx.AsyncClient) -> None:
    """Old code: 404. The manager lists staff (never a key) and revokes one:
    that person's key is refused on the very next request (401)."""
    venue = await new_venue(client)
    made = await new_staff(client, venue["api_key"], "boxoffice", "kim@staff.example")
    assert made["api_key"].startswith("vk_")
    assert (await client.get("/api/admin/events", headers=auth(made["api_key"]))).status_code == 200
    listed = (await client.get("/api/admin/staff", headers=auth(venue["api_key"]))).json()
    assert listed["staff"][0]["email"] == "kim@staff.example"
    assert listed["staff"][0]["active"] is True
    assert made["api_key"] not in str(listed)
    r = await client.delete(f"/api/admin/staff/{made['staff_id']}", headers=auth(venue["api_key"]))
    assert r.status_code == 204
    r = await client.get("/api/admin/events", headers=auth(made["api_key"]))
    assert r.status_code == 401
    listed = (await client.get("/api/admin/staff", headers=auth(venue["api_key"]))).json()
    assert listed["staff"][0]["active"] is False
    r = await client.delete("/api/admin/staff/stf_nope", headers=auth(venue["api_key"]))
    assert r.status_code == 404


async def test_staff_rotation_keeps_the_role(client: httpx.AsyncClient) -> None:
    """A staff manager rotates their key: the new key keeps the role and the
    person, so revoking the person stops both keys."""
    venue = await new_venue(client)
    boss = await new_staff(client, venue["api_key"], "manager")
    rotated = (
        await client.post(
            "/api/admin/venue-keys/rotate",
            json={"grace_seconds": 600},
            headers=auth(boss["api_key"]),
        )
    ).json()
    me = (await client.get("/api/admin/me", headers=auth(rotated["api_key"]))).json()
    assert (me["role"], me["staff_id"]) == ("manager", boss["staff_id"])
    r = await client.delete(f"/api/admin/staff/{boss['staff_id']}", headers=auth(venue["api_key"]))
    assert r.status_code == 204
    for key in (boss["api_key"], rotated["api_key"]):
        assert (await client.get("/api/admin/me", headers=auth(key))).status_code == 401


async def test_bad_staff_bodies_are_422(client: httpx.AsyncClient) -> None:
    venue = await new_venue(client)
    for body in (
        {"email": "a@b.example", "role": "owner"},
        {"email": "not an address", "role": "door"},
        {"role": "door"},
        {"email": "a@b.example", "role": "door", "extra": 1},
    ):
        r = await client.post("/api/admin/staff", json=body, headers=auth(venue["api_key"]))
        assert r.status_code == 422 and error_code(r) == "validation_error", body
    listed = (await client.get("/api/admin/staff", headers=auth(venue["api_key"]))).json()
    assert listed["staff"] == []


async def test_the_last_manager_cannot_be_revoked(client: httpx.AsyncClient) -> None:
    """Revoking the venue's own key leaves a staff manager, who cannot then
    revoke themselves: the venue is never left without a manager."""
    venue = await new_venue(client)
    boss = await new_staff(client, venue["api_key"], "manager")
    keys = (await client.get("/api/admin/venue-keys", headers=auth(boss["api_key"]))).json()
    own = next(k["key_id"] for k in keys["keys"] if k["staff_id"] is None)
    r = await client.delete(f"/api/admin/venue-keys/{own}", headers=auth(boss["api_key"]))
    assert r.status_code == 204
    r = await client.delete(f"/api/admin/staff/{boss['staff_id']}", headers=auth(boss["api_key"]))
    assert r.status_code == 409 and error_code(r) == "last_key"
    assert (await client.get("/api/admin/me", headers=auth(boss["api_key"]))).status_code == 200


def test_a_revoked_staff_key_is_refused_by_every_process_at_once(settings: Settings) -> None:
    """Old code: no staff (404). Two real ``onsale serve`` processes: a staff
    key revoked through the first is refused by the second on its very next
    request (no process caches a key or a role)."""
    with live_server.running(settings, count=2) as (one, two), httpx.Client(timeout=10) as http:
        r = http.post(
            f"{one.url}/api/admin/venues",
            json={"name": "Two", "slug": f"two-{uuid.uuid4().hex[:10]}", "timezone": "UTC"},
            headers=auth(ADMIN_TOKEN),
        )
        manager = r.json()["api_key"]
        made = http.post(
            f"{one.url}/api/admin/staff",
            json={"email": "door@staff.example", "role": "door"},
            headers=auth(manager),
        ).json()
        assert http.get(f"{two.url}/api/admin/me", headers=auth(made["api_key"])).status_code == 200
        r = http.get(f"{two.url}/api/admin/events", headers=auth(made["api_key"]))
        assert r.status_code == 403, "a door key reads no events"
        r = http.delete(f"{one.url}/api/admin/staff/{made['staff_id']}", headers=auth(manager))
        assert r.status_code == 204
        for server in (two, one):
            r = http.get(f"{server.url}/api/admin/me", headers=auth(made["api_key"]))
            assert r.status_code == 401
