"""Issue 15: the audit log records each sensitive action with its actor (a
key id or a staff id, and the role), the time and the client's address, and
never a buyer's data; managers read it, a page at a time.

Old code: rows named only ``venue:<id>`` (every person shared one key, so
"who" was unknowable), had no address, and ``GET /api/admin/audit`` answered
404 (no such route): the log was not readable by the venue at all.
"""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from onsale.runtime import Runtime
from onsale.schema import audit_log
from tests.conftest import ADMIN_TOKEN, Admit, auth
from tests.security._staff import buy, new_event, new_staff, new_venue

EMAIL = "audited.fan@example.org"
NAME = "Audited Fan"


async def test_each_sensitive_action_is_logged_with_its_actor_and_no_buyer_data(
    client: httpx.AsyncClient, runtime: Runtime, admitted: Admit
) -> None:
    venue = await new_venue(client)
    key = venue["api_key"]
    boss = await new_staff(client, key, "manager")
    bkey = boss["api_key"]
    event = await new_event(client, bkey)
    order = await buy(client, admitted, event["id"], EMAIL, NAME)
    door = await new_staff(client, bkey, "door")
    calls = [
        ("PATCH", f"/api/admin/events/{event['id']}", {"name": "Renamed"}),
        ("GET", f"/api/admin/events/{event['id']}/orders.csv", None),
        ("POST", f"/api/admin/orders/{order['order_id']}/refund", None),
        ("GET", f"/api/admin/buyers?email={EMAIL}", None),
        ("GET", "/api/admin/consents", None),
        ("PUT", "/api/admin/venue-settings", {"privacy": {"contact_email": "dpo@venue.example"}}),
        ("DELETE", f"/api/admin/staff/{door['staff_id']}", None),
        ("POST", "/api/admin/buyers/erase", {"email": EMAIL}),
    ]
    for method, path, body in calls:
        r = await client.request(method, path, json=body, headers=auth(bkey))
        assert r.status_code < 300, (path, r.text)
    r = await client.post("/api/admin/venue-keys/rotate", json={}, headers=auth(key))
    assert r.status_code == 201
    r = await client.post(f"/api/admin/venues/{venue['id']}/suspend", headers=auth(ADMIN_TOKEN))
    assert r.status_code == 200

    async with runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.venue_id == venue["id"])
                .order_by(audit_log.c.id)
            )
        ).all()
    by_action = {r.action: r for r in rows}
    staff_actor = f"staff:{boss['staff_id']}"
    for action in (
        "event.create",
        "event.update",
        "orders.export",
        "order.refund",
        "buyer.export",
        "consents.export",
        "venue.settings",
        "staff.create",
        "staff.revoke",
        "buyer.erase",
    ):
        row = by_action[action]
        assert (row.actor, row.actor_role, row.address) == (staff_actor, "manager", "127.0.0.1"), (
            action
        )
    # The manager was made with the venue's own key: that key is the actor.
    created = [r.actor for r in rows if r.action == "staff.create"]
    assert created[0].startswith("key:") and created[1] == staff_actor
    assert by_action["venue_key.rotate"].actor.startswith("key:")
    assert by_action["venue.suspend"].actor == "platform"
    assert by_action["buyer.erase"].details["orders_anonymized"] == 1
    # The buyer is named by a keyed hash at most: one buyer, one reference.
    assert by_action["buyer.erase"].target == by_action["buyer.export"].target
    text = " ".join(f"{r.actor} {r.target} {r.details} {r.address}" for r in rows).lower()
    for secret in (EMAIL, NAME.lower(), "audited", key.lower(), bkey.lower()):
        assert secret not in text, secret


async def test_managers_page_through_the_log(client: httpx.AsyncClient) -> None:
    venue = await new_venue(client)
    for i in range(5):
        await new_staff(client, venue["api_key"], "viewer", f"v{i}@staff.example")
    first = (await client.get("/api/admin/audit?limit=3", headers=auth(venue["api_key"]))).json()
    assert [e["action"] for e in first["entries"]] == ["staff.create"] * 3
    rest = (
        await client.get(
            f"/api/admin/audit?limit=3&before={first['next_before']}",
            headers=auth(venue["api_key"]),
        )
    ).json()
    assert [e["action"] for e in rest["entries"]] == [
        "staff.create",
        "staff.create",
        "venue.create",
    ]
    assert rest["next_before"] is not None or len(rest["entries"]) < 3
    for query in ("limit=0", "limit=201", "limit=x", "before=-1", "before=1e5"):
        r = await client.get(f"/api/admin/audit?{query}", headers=auth(venue["api_key"]))
        assert r.status_code == 422, query
    other = await new_venue(client)
    mine = (await client.get("/api/admin/audit", headers=auth(other["api_key"]))).json()
    assert [e["action"] for e in mine["entries"]] == ["venue.create"]
