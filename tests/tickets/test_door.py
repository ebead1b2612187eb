"""I11 at the door: exactly one ``admitted`` per ticket however many scanners
race; the same scan id gets the first answer; refunded, wrong event and
invalid (forged) told apart; offline uploads land in the conflict report.

The race's negative control builds the door with ``atomic_checkin=False``
(look, then write): several of twenty scanners are told ``admitted``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx

from onsale.runtime import Runtime
from onsale.tickets import codes
from onsale.tickets.door import DoorService
from tests.conftest import MakeEvent, auth
from tests.tickets.test_numbering import sell


async def door_key(
    client: httpx.AsyncClient, venue: dict[str, str], event_id: str, label: str = "Main door"
) -> str:
    r = await client.post(
        f"/api/admin/events/{event_id}/door-keys",
        json={"label": label},
        headers=auth(venue["api_key"]),
    )
    assert r.status_code == 201, r.text
    assert r.json()["label"] == label
    key: str = r.json()["door_key"]
    return key


async def scan(
    client: httpx.AsyncClient,
    key: str,
    code: str,
    *,
    scan_id: str | None = None,
    gate: str = "main",
    **extra: Any,
) -> dict[str, Any]:
    r = await client.post(
        "/api/door/scan",
        json={"code": code, "scan_id": scan_id or str(uuid.uuid4()), "gate": gate, **extra},
        headers=auth(key),
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def race(runtime: Runtime, key: str, code: str, *, atomic: bool) -> Counter[str]:
    door = DoorService(runtime.engine, runtime.issuer.keys, atomic_checkin=atomic)
    scanner = await door.scanner_for(key)
    answers = await asyncio.gather(
        *(
            door.scan(scanner, {"code": code, "scan_id": str(uuid.uuid4()), "gate": f"g{i % 3}"})
            for i in range(20)
        )
    )
    return Counter(a["result"] for a in answers)


async def test_twenty_scanners_one_admitted(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    key = await door_key(client, venue, event["id"])
    order = await sell(client, venue["api_key"], event["id"], 1)
    results = await race(runtime, key, order["tickets"][0]["code"], atomic=True)
    assert results == Counter({"admitted": 1, "already_admitted": 19})
    r = await client.get(f"/api/admin/events/{event['id']}/stats", headers=auth(venue["api_key"]))
    assert r.json()["checked_in"] == 1


async def test_negative_control_look_then_write_admits_several(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    key = await door_key(client, venue, event["id"])
    order = await sell(client, venue["api_key"], event["id"], 1)
    results = await race(runtime, key, order["tickets"][0]["code"], atomic=False)
    assert results["admitted"] > 1, results


async def test_the_same_scan_id_gets_the_first_answer(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    key = await door_key(client, venue, event["id"])
    code = (await sell(client, venue["api_key"], event["id"], 1))["tickets"][0]["code"]
    first = await scan(client, key, code, scan_id="scan-0001")
    assert first["result"] == "admitted" and first["first_scanned_at"]
    assert first["ticket"]["number"] == 1
    again = await asyncio.gather(*(scan(client, key, code, scan_id="scan-0001") for _ in range(5)))
    assert all(a == first for a in again)
    other = await scan(client, key, code, scan_id="scan-0002")
    assert other["result"] == "already_admitted"
    assert other["first_scanned_at"] == first["first_scanned_at"]


async def test_refunded_wrong_event_invalid_told_apart(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event, other_event = await make_event(), await make_event()
    key = await door_key(client, venue, event["id"])
    order = await sell(client, venue["api_key"], event["id"], 1)
    code = order["tickets"][0]["code"]
    r = await client.post(
        f"/api/admin/orders/{order['order_id']}/refund", headers=auth(venue["api_key"])
    )
    assert r.status_code == 200
    refused = await scan(client, key, code)
    assert refused["result"] == "refunded" and refused["ticket"]["status"] == "void"
    elsewhere = (await sell(client, venue["api_key"], other_event["id"], 2))["tickets"][0]["code"]
    assert (await scan(client, key, elsewhere))["result"] == "wrong_event"
    # Forged: the right shape, another key's signature; and a ticket id changed.
    event_id, ticket_id, _ = code.split(".")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged = codes.make_code(Ed25519PrivateKey.generate(), event_id, ticket_id)
    assert (await scan(client, key, forged))["result"] == "invalid"
    tampered = code.replace(ticket_id, "tkt_0000000000000000")
    assert (await scan(client, key, tampered))["result"] == "invalid"
    assert (await scan(client, key, "hello"))["result"] == "invalid"
    assert (await scan(client, key, "x" * 500))["result"] == "invalid"


async def test_bad_requests_and_keys(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    key = await door_key(client, venue, event["id"])
    r = await client.post("/api/door/scan", json={"code": "x", "scan_id": "s"}, headers=auth(key))
    assert r.status_code == 422 and set(r.json()["error"]["details"]["fields"]) == {"scan_id"}
    r = await client.post(
        "/api/door/scan", json={"code": "x", "scan_id": "scan-0001"}, headers=auth("door_nope")
    )
    assert r.status_code == 401
    # The venue's own key is a manager's, which may scan (every event of the
    # venue: here an invalid code); a door key is not a venue key.
    r = await client.post(
        "/api/door/scan", json={"code": "x", "scan_id": "scan-0001"}, headers=auth(venue["api_key"])
    )
    assert r.status_code == 200 and r.json()["result"] == "invalid"
    r = await client.get(f"/api/admin/events/{event['id']}/stats", headers=auth(key))
    assert r.status_code == 401
    r = await client.get(
        f"/api/admin/events/{event['id']}/door-keys", headers=auth(venue["api_key"])
    )
    (listed,) = r.json()["door_keys"]
    assert "door_key" not in listed and listed["label"] == "Main door"
    r = await client.delete(
        f"/api/admin/events/{event['id']}/door-keys/{listed['id']}", headers=auth(venue["api_key"])
    )
    assert r.status_code == 204
    r = await client.post(
        "/api/door/scan", json={"code": "x", "scan_id": "scan-0001"}, headers=auth(key)
    )
    assert r.status_code == 401


async def test_offline_double_entry_in_the_report(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    key = await door_key(client, venue, event["id"])
    code = (await sell(client, venue["api_key"], event["id"], 1))["tickets"][0]["code"]
    first = await scan(client, key, code, gate="north")
    assert first["result"] == "admitted"
    # A phone at the south gate let the same ticket in offline, and uploads later.
    late = await scan(
        client, key, code, gate="south", offline=True, scanned_at="2020-01-01T00:00:00Z"
    )
    assert late["result"] == "already_admitted"
    r = await client.get(f"/api/admin/events/{event['id']}/door", headers=auth(venue["api_key"]))
    report = r.json()
    assert report["checked_in"] == 1
    assert report["gates"] == [{"gate": "north", "checked_in": 1, "inside_now": 1}]
    (conflict,) = report["conflicts"]
    assert conflict["first"]["gate"] == "north" and conflict["again"]["gate"] == "south"
    assert conflict["number"] == 1
    # A phone that had itself answered "already in" let nobody in twice.
    told = await scan(
        client, key, code, gate="south", offline=True, local_result="already_admitted"
    )
    assert told["result"] == "already_admitted"
    r = await client.get(f"/api/admin/events/{event['id']}/door", headers=auth(venue["api_key"]))
    assert len(r.json()["conflicts"]) == 1


async def test_bundle_for_offline_use(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    key = await door_key(client, venue, event["id"])
    order = await sell(client, venue["api_key"], event["id"], 1, quantity=2)
    await client.post(
        f"/api/admin/orders/{order['order_id']}/refund", headers=auth(venue["api_key"])
    )
    r = await client.get("/api/door/bundle", headers=auth(key))
    assert r.status_code == 200
    bundle = r.json()
    assert sorted(bundle["voided"]) == sorted(t["ticket_id"] for t in order["tickets"])
    publics = [codes.unb64(k) for k in bundle["public_keys"]]
    assert codes.verify(publics, order["tickets"][0]["code"]) is not None


async def test_scan_metrics(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
) -> None:
    from onsale.monitoring import metrics

    event = await make_event()
    key = await door_key(client, venue, event["id"])
    code = (await sell(client, venue["api_key"], event["id"], 1))["tickets"][0]["code"]
    before = metrics.DOOR_SCANS.labels(event["id"], "main", "admitted")._value.get()
    await scan(client, key, code)
    assert metrics.DOOR_SCANS.labels(event["id"], "main", "admitted")._value.get() == before + 1


async def test_staff_keys_scan_by_their_role(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    """A door-role staff key scans every event of its venue; a viewer's or a
    box office person's key may not scan (403), and changes nothing."""
    first, second = await make_event(), await make_event()
    codes = [
        (await sell(client, venue["api_key"], ev["id"], 1))["tickets"][0]["code"]
        for ev in (first, second)
    ]
    staff: dict[str, str] = {}
    for role in ("door", "viewer", "boxoffice"):
        r = await client.post(
            "/api/admin/staff",
            json={"email": f"{role}@staff.example", "role": role},
            headers=auth(venue["api_key"]),
        )
        assert r.status_code == 201, r.text
        staff[role] = r.json()["api_key"]
    for role in ("viewer", "boxoffice"):
        r = await client.post(
            "/api/door/scan",
            json={"code": codes[0], "scan_id": f"scan-{role}-1"},
            headers=auth(staff[role]),
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    for i, code in enumerate(codes):
        assert (await scan(client, staff["door"], code, scan_id=f"scan-door-{i}"))[
            "result"
        ] == "admitted"
