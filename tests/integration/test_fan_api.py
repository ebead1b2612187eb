"""The fans' endpoints of API.md against real Redis and Postgres: the public
event and seat map, the waiting room, holds, checkout and orders."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from onsale import app as app_module
from onsale import tokens
from onsale.runtime import Runtime
from tests.conftest import Admit, MakeEvent, auth, iso
from tests.integration.api_helpers import charges, error_code, hold, seat_states
from tests.monitoring.metrics_util import Delta

CARD = {"provider": "test", "card_number": "4242424242424242"}
DECLINED = {"provider": "test", "card_number": "4000000000000002"}
BUYER = {"email": "fan@example.org", "name": "Camille"}
SECRET = b"test-secret-key"
STD = {"code": "STD", "name": "Standard", "price_cents": 2500, "fee_cents": 100, "currency": "EUR"}


# ------------------------------------------------------------------ helpers


def waiting(r: httpx.Response) -> dict[str, Any]:
    """API.md's fields of a queue status (more may be added)."""
    assert r.status_code == 200, r.text
    return {k: r.json()[k] for k in ("state", "position", "ahead", "eta_seconds")}


def parse_time(value: str) -> float:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def available(client: httpx.AsyncClient, event_id: str) -> dict[str, int]:
    r = await client.get(f"/api/events/{event_id}")
    assert r.status_code == 200, r.text
    return {s["code"]: s["available"] for s in r.json()["sections"]}


async def checkout(
    client: httpx.AsyncClient,
    hold_id: str,
    access: str,
    *,
    key: str | None = None,
    buyer: dict[str, str] | None = None,
    payment: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        f"/api/holds/{hold_id}/checkout",
        json={"buyer": buyer or BUYER, "payment": payment or CARD},
        headers={**auth(access), "Idempotency-Key": key or str(uuid.uuid4())},
    )


async def join_and_admit(
    client: httpx.AsyncClient, runtime: Runtime, event_id: str
) -> tuple[str, str]:
    """(queue token, access token) of a new fan admitted to an open sale."""
    r = await client.post(f"/api/events/{event_id}/queue")
    assert r.status_code == 201, r.text
    queue_token: str = r.json()["queue_token"]
    event = await runtime.events.get(event_id)
    for _ in range(50):
        await runtime.queue.admit(event)
        s = await client.get(f"/api/events/{event_id}/queue/status", headers=auth(queue_token))
        assert s.status_code == 200, s.text
        if s.json()["state"] == "admitted":
            return queue_token, s.json()["access_token"]
        await asyncio.sleep(0.02)
    raise AssertionError("not admitted")


def signed(kind: tokens.Kind, event_id: str, subject: str, expires_at: float) -> str:
    return tokens.sign(SECRET, tokens.Claims(kind, event_id, subject, int(expires_at)))


def forged(token: str) -> str:
    payload, _, mac = token.partition(".")
    return f"{payload}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"


# --------------------------------------------------------- event and seats


async def test_public_event_fields_and_availability_after_hold_and_sale(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    eid = event["id"]
    r = await client.get(f"/api/events/{eid}")
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["id"] == eid
    assert info["name"] == "Night show"
    assert info["status"] == "on_sale"
    assert parse_time(info["starts_at"]) == parse_time(event["starts_at"])
    assert set(info["sale"]) == {"prequeue_opens_at", "opens_at", "closes_at"}
    for k, v in info["sale"].items():
        assert parse_time(v) == parse_time(event["sale"][k])
    assert info["categories"] == [STD]
    assert info["sections"] == [
        {"code": "FLOOR", "kind": "ga", "category": "STD", "capacity": 100, "available": 100},
        {"code": "BALC", "kind": "seated", "category": "STD", "capacity": 20, "available": 20},
    ]

    fan1 = await admitted(eid)
    fan2 = await admitted(eid)
    seats = await hold(client, eid, fan1, {"seats": ["BALC-A-1", "BALC-A-2"]})
    ga = await hold(client, eid, fan2, {"section": "FLOOR", "quantity": 3})
    assert await available(client, eid) == {"FLOOR": 97, "BALC": 18}

    r = await checkout(client, seats["hold_id"], fan1)
    assert r.status_code == 201, r.text
    assert await available(client, eid) == {"FLOOR": 97, "BALC": 18}

    r = await client.delete(f"/api/holds/{ga['hold_id']}", headers=auth(fan2))
    assert r.status_code == 204, r.text
    assert await available(client, eid) == {"FLOOR": 100, "BALC": 18}


async def test_event_status_scheduled_then_prequeue(
    client: httpx.AsyncClient, make_event: MakeEvent
) -> None:
    scheduled = await make_event(opens_in=3600, prequeue_in=1800)
    prequeue = await make_event(opens_in=3600, prequeue_in=-60)
    r = await client.get(f"/api/events/{scheduled['id']}")
    assert r.json()["status"] == "scheduled"
    r = await client.get(f"/api/events/{prequeue['id']}")
    assert r.json()["status"] == "prequeue"


async def test_sold_out_event_status_seats_and_queue(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event(ga=0, rows={"A": 2})
    eid = event["id"]
    access = await admitted(eid)
    h = await hold(client, eid, access, {"seats": ["BALC-A-1", "BALC-A-2"]})
    assert await seat_states(client, eid) == {"BALC-A-1": "held", "BALC-A-2": "held"}
    r = await checkout(client, h["hold_id"], access)
    assert r.status_code == 201, r.text

    info = (await client.get(f"/api/events/{eid}")).json()
    assert info["status"] == "sold_out"
    assert info["sections"][0]["available"] == 0
    assert await seat_states(client, eid) == {"BALC-A-1": "sold", "BALC-A-2": "sold"}
    r = await client.post(f"/api/events/{eid}/queue")
    assert r.status_code == 409 and error_code(r) == "sold_out", r.text


async def test_unknown_event_is_404(client: httpx.AsyncClient) -> None:
    for path in ("/api/events/ev_nope", "/api/events/ev_nope/seats"):
        r = await client.get(path)
        assert r.status_code == 404 and error_code(r) == "not_found", r.text
    r = await client.post("/api/events/ev_nope/queue")
    assert r.status_code == 404 and error_code(r) == "not_found"


async def test_seat_map_lists_every_seat_with_its_state(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event(rows={"A": 3, "B": 2})
    eid = event["id"]
    r = await client.get(f"/api/events/{eid}/seats")
    assert r.status_code == 200
    body = r.json()
    assert body["event_id"] == eid
    assert body["seats"] == [
        {"id": "BALC-A-1", "section": "BALC", "row": "A", "number": 1, "state": "free"},
        {"id": "BALC-A-2", "section": "BALC", "row": "A", "number": 2, "state": "free"},
        {"id": "BALC-A-3", "section": "BALC", "row": "A", "number": 3, "state": "free"},
        {"id": "BALC-B-1", "section": "BALC", "row": "B", "number": 1, "state": "free"},
        {"id": "BALC-B-2", "section": "BALC", "row": "B", "number": 2, "state": "free"},
    ]
    fan1 = await admitted(eid)
    fan2 = await admitted(eid)
    sold = await hold(client, eid, fan1, {"seats": ["BALC-A-2"]})
    assert (await checkout(client, sold["hold_id"], fan1)).status_code == 201
    await hold(client, eid, fan2, {"seats": ["BALC-B-1", "BALC-B-2"]})
    assert await seat_states(client, eid) == {
        "BALC-A-1": "free",
        "BALC-A-2": "sold",
        "BALC-A-3": "free",
        "BALC-B-1": "held",
        "BALC-B-2": "held",
    }


# -------------------------------------------------------------- the queue


async def test_join_gives_a_new_entry_then_the_same_one_again(
    client: httpx.AsyncClient, make_event: MakeEvent
) -> None:
    event = await make_event(max_active=1)
    eid = event["id"]
    r = await client.post(f"/api/events/{eid}/queue")
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["state"] == "waiting" and first["position"] == 1
    assert first["ahead"] == 0 and first["eta_seconds"] == 1

    again = await client.post(f"/api/events/{eid}/queue", headers=auth(first["queue_token"]))
    assert again.status_code == 200, again.text
    assert again.json()["queue_token"] == first["queue_token"]
    assert again.json()["position"] == 1

    other = await client.post(f"/api/events/{eid}/queue")
    assert other.status_code == 201
    assert other.json()["queue_token"] != first["queue_token"]
    assert other.json()["position"] == 2


async def test_join_before_the_prequeue_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event(opens_in=3600, prequeue_in=1800)
    r = await client.post(f"/api/events/{event['id']}/queue")
    assert r.status_code == 409 and error_code(r) == "sale_not_open", r.text
    counts = await runtime.queue.store.counts(event["id"])
    assert counts == {"waiting": 0, "admitted": 0, "active": 0, "prequeue": 0}


async def test_prequeue_has_no_position(client: httpx.AsyncClient, make_event: MakeEvent) -> None:
    event = await make_event(opens_in=3600, prequeue_in=-60)
    eid = event["id"]
    r = await client.post(f"/api/events/{eid}/queue")
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "prequeue" and r.json()["position"] is None
    token = r.json()["queue_token"]
    again = await client.post(f"/api/events/{eid}/queue", headers=auth(token))
    assert again.status_code == 200
    assert again.json()["state"] == "prequeue" and again.json()["position"] is None
    s = await client.get(f"/api/events/{eid}/queue/status", headers=auth(token))
    assert s.status_code == 200
    assert s.json()["state"] == "prequeue" and s.json()["position"] is None


async def test_status_waiting_then_admitted_and_leaving_frees_the_slot(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event(max_active=1)
    eid = event["id"]
    q1, access1 = await join_and_admit(client, runtime, eid)
    q2 = (await client.post(f"/api/events/{eid}/queue")).json()["queue_token"]
    q3 = (await client.post(f"/api/events/{eid}/queue")).json()["queue_token"]
    ev = await runtime.events.get(eid)
    assert (await runtime.queue.admit(ev)).admitted == 0  # the one slot is taken

    s3 = await client.get(f"/api/events/{eid}/queue/status", headers=auth(q3))
    assert s3.status_code == 200
    assert waiting(s3) == {"state": "waiting", "position": 2, "ahead": 1, "eta_seconds": 1}

    r = await client.delete(f"/api/events/{eid}/queue", headers=auth(q1))
    assert r.status_code == 204, r.text
    s1 = await client.get(f"/api/events/{eid}/queue/status", headers=auth(q1))
    assert s1.json()["state"] == "closed"
    r = await client.post(
        f"/api/events/{eid}/holds", json={"seats": ["BALC-A-1"]}, headers=auth(access1)
    )
    assert r.status_code == 403 and error_code(r) == "forbidden", r.text

    # The rate (100 a second) gives a budget that grows with Redis' clock: a
    # step a few milliseconds after the last one may have none yet.
    admitted = 0
    for _ in range(50):
        admitted += (await runtime.queue.admit(ev)).admitted
        if admitted:
            break
        await asyncio.sleep(0.02)
    assert admitted == 1
    before = time.time()
    s2 = await client.get(f"/api/events/{eid}/queue/status", headers=auth(q2))
    body = s2.json()
    assert body["state"] == "admitted"
    # The access token outlives the 600 s session by one hold (300 s).
    assert before + 895 <= parse_time(body["access_expires_at"]) <= before + 902
    claims = tokens.verify(SECRET, body["access_token"], kind="access", event_id=eid, now=before)
    assert claims.event_id == eid
    s3 = await client.get(f"/api/events/{eid}/queue/status", headers=auth(q3))
    assert waiting(s3) == {"state": "waiting", "position": 1, "ahead": 0, "eta_seconds": 1}
    await hold(client, eid, body["access_token"], {"seats": ["BALC-A-1"]})


async def test_queue_tokens_are_checked(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event()
    other = await make_event()
    eid = event["id"]
    status = f"/api/events/{eid}/queue/status"
    q_other, access = await join_and_admit(client, runtime, other["id"])
    _, access_here = await join_and_admit(client, runtime, eid)
    r = await client.post(f"/api/events/{eid}/queue")
    queue_token = r.json()["queue_token"]

    r = await client.get(status)
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    r = await client.get(status, headers=auth(q_other))
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = await client.get(status, headers=auth(access_here))
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = await client.get(status, headers=auth(forged(queue_token)))
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    expired = signed("queue", eid, "q_whoever", time.time() - 5)
    r = await client.get(status, headers=auth(expired))
    assert r.status_code == 401 and error_code(r) == "token_expired"
    r = await client.delete(f"/api/events/{eid}/queue")
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    r = await client.delete(f"/api/events/{eid}/queue", headers=auth(q_other))
    assert r.status_code == 403 and error_code(r) == "forbidden"

    before = await runtime.queue.store.counts(eid)
    for bad in (forged(queue_token), q_other, access):
        r = await client.post(f"/api/events/{eid}/queue", headers=auth(bad))
        assert r.status_code in (401, 403), r.text
    assert await runtime.queue.store.counts(eid) == before


# ------------------------------------------------------------------- holds


async def test_the_three_hold_forms_and_one_hold_per_fan(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    eid = event["id"]
    access = await admitted(eid)

    before = time.time()
    h = await hold(client, eid, access, {"seats": ["BALC-A-1", "BALC-A-2"]})
    assert set(h) >= {"hold_id", "seats", "section", "quantity", "expires_at"}
    assert h["seats"] == ["BALC-A-1", "BALC-A-2"]
    assert h["section"] == "BALC" and h["quantity"] == 2
    assert before + 298 <= parse_time(h["expires_at"]) <= before + 302

    ga = await hold(client, eid, access, {"section": "FLOOR", "quantity": 2})
    assert ga["seats"] == [] and ga["section"] == "FLOOR" and ga["quantity"] == 2
    assert ga["hold_id"] != h["hold_id"]
    # The new hold replaced the old one: its seats are back on sale.
    states = await seat_states(client, eid)
    assert states["BALC-A-1"] == "free" and states["BALC-A-2"] == "free"
    assert await available(client, eid) == {"FLOOR": 98, "BALC": 20}

    best = await hold(
        client, eid, access, {"section": "BALC", "quantity": 3, "best_available": True}
    )
    assert best["seats"] == ["BALC-A-4", "BALC-A-5", "BALC-A-6"]
    assert best["section"] == "BALC" and best["quantity"] == 3
    assert await available(client, eid) == {"FLOOR": 100, "BALC": 17}
    r = await client.delete(f"/api/holds/{ga['hold_id']}", headers=auth(access))
    assert r.status_code == 404, r.text


async def test_unavailable_seats_are_named_and_nothing_is_taken(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event(ga=4)
    eid = event["id"]
    fan1 = await admitted(eid)
    fan2 = await admitted(eid)
    await hold(client, eid, fan1, {"seats": ["BALC-A-1", "BALC-A-2"]})
    mine = await hold(client, eid, fan2, {"seats": ["BALC-B-1"]})

    r = await client.post(
        f"/api/events/{eid}/holds",
        json={"seats": ["BALC-A-2", "BALC-A-3"]},
        headers=auth(fan2),
    )
    assert r.status_code == 409 and error_code(r) == "seats_unavailable", r.text
    assert r.json()["error"]["details"]["unavailable"] == ["BALC-A-2"]
    states = await seat_states(client, eid)
    assert states["BALC-A-3"] == "free"  # all or nothing
    assert states["BALC-B-1"] == "held"  # the refused hold did not replace the old one

    r = await client.post(
        f"/api/events/{eid}/holds", json={"section": "FLOOR", "quantity": 5}, headers=auth(fan2)
    )
    assert r.status_code == 409 and error_code(r) == "seats_unavailable", r.text
    assert await available(client, eid) == {"FLOOR": 4, "BALC": 17}
    r = await client.delete(f"/api/holds/{mine['hold_id']}", headers=auth(fan2))
    assert r.status_code == 204


async def test_holds_need_an_access_token_of_this_event(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    other = await make_event()
    eid = event["id"]
    url = f"/api/events/{eid}/holds"
    body = {"seats": ["BALC-A-1"]}
    access = await admitted(eid)
    access_other = await admitted(other["id"])
    queue_token = (await client.post(f"/api/events/{eid}/queue")).json()["queue_token"]
    entry = tokens.verify(SECRET, access, kind="access", event_id=eid, now=time.time()).subject

    cases = [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Basic abc"}, 401, "unauthorized"),
        (auth("garbage"), 401, "unauthorized"),
        (auth(forged(access)), 401, "unauthorized"),
        (auth(signed("access", eid, entry, time.time() - 1)), 401, "token_expired"),
        (auth(queue_token), 403, "forbidden"),
        (auth(access_other), 403, "forbidden"),
    ]
    for headers, status, code in cases:
        r = await client.post(url, json=body, headers=headers)
        assert (r.status_code, error_code(r)) == (status, code), (headers, r.text)
    assert (await seat_states(client, eid))["BALC-A-1"] == "free"
    # A token signed by us for an entry Redis does not know: only our own
    # admission signs one, so Redis lost the entry (a restart) and the session
    # comes back from the token (see test_an_admitted_fan_keeps_shopping...).
    r = await client.post(url, json=body, headers=auth(signed("access", eid, "q_x", 2e9)))
    assert r.status_code == 201, r.text


async def test_invalid_hold_requests_are_422_naming_the_field(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    eid = event["id"]
    access = await admitted(eid)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"seats": ["BALC-Z-1"]}, "seats"),
        ({"seats": ["BALC-A-11"]}, "seats"),
        ({"seats": ["FLOOR-A-1"]}, "seats"),
        ({"seats": ["BALC-A-01"]}, "seats"),
        ({"seats": []}, "seats"),
        ({"seats": ["BALC-A-1", "BALC-A-1"]}, "seats"),
        ({"seats": "BALC-A-1"}, "seats"),
        ({"seats": [1, 2]}, "seats"),
        ({"section": "FLOOR", "quantity": 0}, "quantity"),
        ({"section": "FLOOR", "quantity": -2}, "quantity"),
        ({"section": "FLOOR", "quantity": 101}, "quantity"),
        ({"section": "FLOOR", "quantity": "2"}, "quantity"),
        ({"section": "FLOOR", "quantity": 2.0}, "quantity"),
        ({"section": "FLOOR", "quantity": True}, "quantity"),
        ({"section": "FLOOR"}, "quantity"),
        ({"section": "BALC", "quantity": 2}, "seats"),
        ({"section": "BALC", "quantity": 2, "best_available": "yes"}, "seats"),
        ({"section": "BALC", "quantity": 11, "best_available": True}, "quantity"),
        ({"section": "NOPE", "quantity": 2}, "section"),
        ({"section": ["FLOOR"], "quantity": 2}, "section"),
        ({}, "section"),
    ]
    for body, field in cases:
        r = await client.post(f"/api/events/{eid}/holds", json=body, headers=auth(access))
        assert r.status_code == 422 and error_code(r) == "validation_error", (body, r.text)
        assert field in r.json()["error"]["details"]["fields"], (body, r.text)
    assert await available(client, eid) == {"FLOOR": 100, "BALC": 20}


async def test_release_frees_at_once_then_404_and_403_for_another_fan(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    eid = event["id"]
    fan1 = await admitted(eid)
    fan2 = await admitted(eid)
    h = await hold(client, eid, fan1, {"seats": ["BALC-A-1", "BALC-A-2"]})
    ga = await hold(client, eid, fan2, {"section": "FLOOR", "quantity": 4})

    r = await client.delete(f"/api/holds/{h['hold_id']}")
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    r = await client.delete(f"/api/holds/{h['hold_id']}", headers=auth(fan2))
    assert r.status_code == 403 and error_code(r) == "forbidden"
    assert (await seat_states(client, eid))["BALC-A-1"] == "held"

    r = await client.delete(f"/api/holds/{h['hold_id']}", headers=auth(fan1))
    assert r.status_code == 204 and r.content == b""
    states = await seat_states(client, eid)
    assert states["BALC-A-1"] == "free" and states["BALC-A-2"] == "free"
    r = await client.delete(f"/api/holds/{h['hold_id']}", headers=auth(fan1))
    assert r.status_code == 404 and error_code(r) == "not_found"
    r = await client.delete("/api/holds/hold_unknown", headers=auth(fan1))
    assert r.status_code == 404 and error_code(r) == "not_found"

    assert await available(client, eid) == {"FLOOR": 96, "BALC": 20}
    r = await client.delete(f"/api/holds/{ga['hold_id']}", headers=auth(fan2))
    assert r.status_code == 204
    assert await available(client, eid) == {"FLOOR": 100, "BALC": 20}
    # The seats are free for anyone at once.
    await hold(client, eid, fan2, {"seats": ["BALC-A-1", "BALC-A-2"]})


# ---------------------------------------------------------------- checkout


async def test_checkout_answer_replay_and_conflict(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    eid = event["id"]
    access = await admitted(eid)
    h = await hold(client, eid, access, {"seats": ["BALC-A-1", "BALC-A-2"]})
    key = str(uuid.uuid4())

    r = await checkout(client, h["hold_id"], access, key=key)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "paid"
    assert order["total_cents"] == 5200 and order["currency"] == "EUR"
    assert isinstance(order["order_id"], str) and isinstance(order["order_token"], str)
    assert [
        (t["section"], t["seat"], t["price_cents"], t["fee_cents"]) for t in order["tickets"]
    ] == [("BALC", "BALC-A-1", 2500, 100), ("BALC", "BALC-A-2", 2500, 100)]
    assert all(t["ticket_id"] and t["code"] for t in order["tickets"])
    assert len({t["code"] for t in order["tickets"]}) == 2

    again = await checkout(client, h["hold_id"], access, key=key)
    assert again.status_code in (200, 201), again.text
    assert again.json() == order
    other = await checkout(
        client, h["hold_id"], access, key=key, buyer={**BUYER, "name": "Someone else"}
    )
    assert other.status_code == 409 and error_code(other) == "idempotency_conflict"
    assert charges(runtime) == [(5200, "captured")]

    r = await client.delete(f"/api/holds/{h['hold_id']}", headers=auth(access))
    assert r.status_code == 404  # the hold became the order
    r = await checkout(client, h["hold_id"], access)  # a new key: nothing left to pay for
    assert r.status_code == 409 and error_code(r) == "hold_expired", r.text
    assert charges(runtime) == [(5200, "captured")]


async def test_general_admission_checkout_has_no_seats(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    access = await admitted(event["id"])
    h = await hold(client, event["id"], access, {"section": "FLOOR", "quantity": 3})
    r = await checkout(client, h["hold_id"], access)
    assert r.status_code == 201, r.text
    assert r.json()["total_cents"] == 3 * 2600
    assert [(t["section"], t["seat"]) for t in r.json()["tickets"]] == [("FLOOR", None)] * 3
    assert await available(client, event["id"]) == {"FLOOR": 97, "BALC": 20}


async def test_declined_card_keeps_the_hold_for_a_good_card(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    eid = event["id"]
    access = await admitted(eid)
    h = await hold(client, eid, access, {"seats": ["BALC-A-1"]})
    key = str(uuid.uuid4())

    r = await checkout(client, h["hold_id"], access, key=key, payment=DECLINED)
    assert r.status_code == 402 and error_code(r) == "payment_declined", r.text
    assert (await seat_states(client, eid))["BALC-A-1"] == "held"
    again = await checkout(client, h["hold_id"], access, key=key, payment=DECLINED)
    assert again.status_code == 402 and again.json() == r.json()
    assert charges(runtime) == [(2600, "declined")]

    r = await checkout(client, h["hold_id"], access, payment=CARD)
    assert r.status_code == 201, r.text
    assert charges(runtime) == [(2600, "captured"), (2600, "declined")]
    assert (await seat_states(client, eid))["BALC-A-1"] == "sold"


async def test_checkout_validation_leaves_the_hold_alone(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    eid = event["id"]
    access = await admitted(eid)
    h = await hold(client, eid, access, {"seats": ["BALC-A-1"]})
    url = f"/api/holds/{h['hold_id']}/checkout"
    good = {"buyer": BUYER, "payment": CARD}
    key = {"Idempotency-Key": str(uuid.uuid4())}

    cases: list[tuple[dict[str, str], dict[str, Any], str]] = [
        ({}, good, "Idempotency-Key"),
        ({"Idempotency-Key": "short"}, good, "Idempotency-Key"),
        ({"Idempotency-Key": "x" * 129}, good, "Idempotency-Key"),
        ({"Idempotency-Key": "has spaces in it"}, good, "Idempotency-Key"),
        (key, {**good, "payment": {**CARD, "card_number": "4242424242424241"}}, "card"),
        (key, {**good, "payment": {**CARD, "card_number": "42424242"}}, "card"),
        (key, {**good, "payment": {"provider": "cash"}}, "payment.provider"),
        (key, {**good, "payment": {**CARD, "provider": "paypal"}}, "payment.provider"),
        (key, {**good, "buyer": {**BUYER, "email": "not-an-email"}}, "buyer.email"),
        (key, {**good, "buyer": {**BUYER, "name": "  "}}, "buyer.name"),
        (key, {"payment": CARD}, "buyer.email"),
    ]
    for headers, body, field in cases:
        r = await client.post(url, json=body, headers={**auth(access), **headers})
        assert r.status_code == 422 and error_code(r) == "validation_error", (body, r.text)
        fields = r.json()["error"]["details"]["fields"]
        assert any(field in f for f in fields), (field, fields)
    assert charges(runtime) == []
    assert (await seat_states(client, eid))["BALC-A-1"] == "held"
    r = await checkout(client, h["hold_id"], access, key=key["Idempotency-Key"])
    assert r.status_code == 201, r.text


async def test_expired_hold_cannot_be_paid(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    eid = event["id"]
    access = await admitted(eid)
    h = await hold(client, eid, access, {"seats": ["BALC-A-1"]})
    # Let the hold run out: its expiry (Redis clock, ms) moved to the past.
    keys = runtime.inventory.store.keys(eid)
    await runtime.redis.zadd(keys.expiries, {h["hold_id"]: 1})

    r = await checkout(client, h["hold_id"], access)
    assert r.status_code == 409 and error_code(r) == "hold_expired", r.text
    assert charges(runtime) == []
    assert (await seat_states(client, eid))["BALC-A-1"] == "free"
    r = await client.delete(f"/api/holds/{h['hold_id']}", headers=auth(access))
    assert r.status_code == 404


async def test_checkout_of_another_fans_hold_is_forbidden(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    other = await make_event()
    eid = event["id"]
    fan1 = await admitted(eid)
    fan2 = await admitted(eid)
    elsewhere = await admitted(other["id"])
    h = await hold(client, eid, fan1, {"seats": ["BALC-A-1"]})

    r = await checkout(client, h["hold_id"], fan2)
    assert r.status_code == 403 and error_code(r) == "forbidden", r.text
    r = await client.post(
        f"/api/holds/{h['hold_id']}/checkout",
        json={"buyer": BUYER, "payment": CARD},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    r = await checkout(client, h["hold_id"], elsewhere)
    # Not that event's hold: to that event it does not exist (issue 10, item 9).
    assert r.status_code == 404 and error_code(r) == "not_found", r.text
    assert charges(runtime) == []
    assert (await seat_states(client, eid))["BALC-A-1"] == "held"
    r = await checkout(client, h["hold_id"], fan1)
    assert r.status_code == 201, r.text


async def test_order_needs_its_own_order_token(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    eid = event["id"]
    fan1 = await admitted(eid)
    fan2 = await admitted(eid)
    h1 = await hold(client, eid, fan1, {"seats": ["BALC-A-1"]})
    h2 = await hold(client, eid, fan2, {"section": "FLOOR", "quantity": 1})
    o1 = (await checkout(client, h1["hold_id"], fan1)).json()
    o2 = (await checkout(client, h2["hold_id"], fan2)).json()
    url = f"/api/orders/{o1['order_id']}"

    r = await client.get(url, headers=auth(o1["order_token"]))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["order_id"] == o1["order_id"] and got["status"] == "paid"
    assert got["total_cents"] == 2600 and got["currency"] == "EUR"
    assert [t["ticket_id"] for t in got["tickets"]] == [t["ticket_id"] for t in o1["tickets"]]
    assert [t["code"] for t in got["tickets"]] == [t["code"] for t in o1["tickets"]]

    r = await client.get(url)
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    r = await client.get(url, headers=auth(o2["order_token"]))
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = await client.get(url, headers=auth(fan1))
    assert r.status_code == 403 and error_code(r) == "forbidden"
    r = await client.get(url, headers=auth(forged(o1["order_token"])))
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    ghost = signed("order", eid, "ord_ghost", time.time() + 60)
    r = await client.get("/api/orders/ord_ghost", headers=auth(ghost))
    assert r.status_code == 404 and error_code(r) == "not_found"


# ------------------------------------------------------------------ limits


async def test_per_order_limit(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event(per_order=2)
    eid = event["id"]
    access = await admitted(eid)
    for body in (
        {"seats": ["BALC-A-1", "BALC-A-2", "BALC-A-3"]},
        {"section": "FLOOR", "quantity": 3},
        {"section": "BALC", "quantity": 3, "best_available": True},
    ):
        r = await client.post(f"/api/events/{eid}/holds", json=body, headers=auth(access))
        assert r.status_code == 409 and error_code(r) == "limit_exceeded", (body, r.text)
    assert await available(client, eid) == {"FLOOR": 100, "BALC": 20}
    await hold(client, eid, access, {"section": "FLOOR", "quantity": 2})


async def test_per_buyer_limit_spans_orders_by_normalized_email(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event(per_buyer=2)
    eid = event["id"]
    fan1 = await admitted(eid)
    fan2 = await admitted(eid)
    h1 = await hold(client, eid, fan1, {"seats": ["BALC-A-1", "BALC-A-2"]})
    buyer1 = {"email": "Camille.Fan@Example.org", "name": "Camille"}
    r = await checkout(client, h1["hold_id"], fan1, buyer=buyer1)
    assert r.status_code == 201, r.text

    # The purchase ended the fan's shopping session.
    r = await client.post(
        f"/api/events/{eid}/holds", json={"seats": ["BALC-A-3"]}, headers=auth(fan1)
    )
    assert r.status_code == 403 and error_code(r) == "forbidden", r.text

    # Another fan, the same mailbox spelled otherwise: refused at payment.
    h2 = await hold(client, eid, fan2, {"seats": ["BALC-B-1"]})
    buyer2 = {"email": "camille.fan+resale@EXAMPLE.org", "name": "C."}
    key = str(uuid.uuid4())
    r = await checkout(client, h2["hold_id"], fan2, buyer=buyer2, key=key)
    assert r.status_code == 409 and error_code(r) == "limit_exceeded", r.text
    assert charges(runtime) == [(2600, "voided"), (5200, "captured")]
    assert (await seat_states(client, eid))["BALC-B-1"] == "free"
    again = await checkout(client, h2["hold_id"], fan2, buyer=buyer2, key=key)
    assert again.status_code == 409 and error_code(again) == "limit_exceeded"
    assert charges(runtime) == [(2600, "voided"), (5200, "captured")]

    # Someone else entirely may still buy.
    h3 = await hold(client, eid, fan2, {"seats": ["BALC-B-1"]})
    r = await checkout(client, h3["hold_id"], fan2, buyer={"email": "x@example.org", "name": "X"})
    assert r.status_code == 201, r.text


async def test_no_online_hold_outside_the_sale_window(
    client: httpx.AsyncClient, venue: dict[str, str], make_event: MakeEvent, admitted: Admit
) -> None:
    """A fan admitted before the venue closed the sale (or moved it later)
    keeps a shopping session, but takes nothing more online."""
    event = await make_event()
    eid = event["id"]
    fan1 = await admitted(eid)
    fan2 = await admitted(eid)
    taken = await hold(client, eid, fan1, {"seats": ["BALC-A-1"]})
    now = datetime.now(UTC)
    sale = {
        "prequeue_opens_at": iso(now - timedelta(hours=3)),
        "opens_at": iso(now - timedelta(hours=2)),
        "closes_at": iso(now - timedelta(seconds=1)),
    }
    key = auth(venue["api_key"])
    r = await client.patch(f"/api/admin/events/{eid}", json={"sale": sale}, headers=key)
    assert r.status_code == 200, r.text
    assert (await client.get(f"/api/events/{eid}")).json()["status"] == "closed"
    r = await client.post(f"/api/events/{eid}/queue")
    assert r.status_code == 409 and error_code(r) == "sale_not_open", r.text
    for body in ({"seats": ["BALC-A-2"]}, {"section": "FLOOR", "quantity": 1}):
        r = await client.post(f"/api/events/{eid}/holds", json=body, headers=auth(fan2))
        assert r.status_code == 409 and error_code(r) == "sale_not_open", r.text
    assert await available(client, eid) == {"FLOOR": 100, "BALC": 19}
    # A hold taken in time may still be paid; the box office sells on.
    r = await checkout(client, taken["hold_id"], fan1)
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/admin/events/{eid}/boxoffice",
        json={"seats": ["BALC-A-2"], "buyer": BUYER, "payment": {"provider": "cash"}},
        headers=key,
    )
    assert r.status_code == 201, r.text

    later = {"opens_at": iso(now + timedelta(hours=1)), "closes_at": iso(now + timedelta(days=1))}
    r = await client.patch(f"/api/admin/events/{eid}", json={"sale": later}, headers=key)
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/events/{eid}/holds", json={"seats": ["BALC-A-3"]}, headers=auth(fan2)
    )
    assert r.status_code == 409 and error_code(r) == "sale_not_open", r.text


async def test_an_expired_hold_is_shown_free_within_a_second(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    """I4 as fans see it: once a hold's time is up, its seats read "free" in the
    seat map and count as available after the next admission step (which the
    runtime runs every second), even on an event where no fan acts."""
    event = await make_event()
    eid = event["id"]
    access = await admitted(eid)
    seated = await hold(client, eid, access, {"seats": ["BALC-A-1"]})
    keys = runtime.inventory.store.keys(eid)
    await runtime.redis.zadd(keys.expiries, {seated["hold_id"]: 1})  # its time is up
    await runtime.admit_all()  # the background step, run here by hand

    state = (await seat_states(client, eid))["BALC-A-1"]
    assert state == "free", f"an expired hold still shows its seat {state!r} in GET /seats"
    assert await available(client, eid) == {"FLOOR": 100, "BALC": 20}
    r = await client.get(f"/api/admin/events/{eid}/stats", headers=auth(venue["api_key"]))
    assert (r.json()["held"], r.json()["available"]) == (0, 120)


async def test_an_admitted_fan_keeps_shopping_after_redis_lost_its_data(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    """After a Redis restart that lost the queue, the signed access token brings
    the shopping session back (the inventory is rebuilt from Postgres first)."""
    event = await make_event()
    access = await admitted(event["id"])
    await runtime.redis.flushdb()
    r = await client.post(
        f"/api/events/{event['id']}/holds", headers=auth(access), json={"seats": ["BALC-A-1"]}
    )
    assert r.status_code == 201, r.text


async def test_a_session_that_really_ended_is_not_brought_back(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event()
    joined = (await client.post(f"/api/events/{event['id']}/queue")).json()
    ev = await runtime.events.get(event["id"])
    for _ in range(50):
        await runtime.queue.admit(ev)
        status = (
            await client.get(
                f"/api/events/{ev.id}/queue/status", headers=auth(joined["queue_token"])
            )
        ).json()
        if status["state"] == "admitted":
            break
        await asyncio.sleep(0.05)
    assert status["state"] == "admitted"
    left = await client.delete(f"/api/events/{ev.id}/queue", headers=auth(joined["queue_token"]))
    assert left.status_code == 204
    r = await client.post(
        f"/api/events/{ev.id}/holds",
        headers=auth(status["access_token"]),
        json={"seats": ["BALC-A-1"]},
    )
    assert r.status_code == 403


# ------------------------------------------- the hot route and the router agree


async def test_the_hot_hold_route_answers_as_the_router_does(
    client: httpx.AsyncClient,
    runtime: Runtime,
    make_event: MakeEvent,
    admitted: Admit,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """POST /api/events/{id}/holds is served by the app's middleware before the
    router (onsale.http.HotRoute); the same app without hot routes serves it
    through Starlette's router. Every answer is the same, and so are the
    metrics it leaves."""
    monkeypatch.setattr(app_module, "hot_routes", [])
    routed_app = app_module.create_app(runtime.settings, runtime=runtime)
    transport = httpx.ASGITransport(app=routed_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onsale.test") as routed:
        event = await make_event()
        eid = event["id"]
        access, rival = await admitted(eid), await admitted(eid)
        await hold(client, eid, rival, {"seats": ["BALC-A-1"]})
        now = int(time.time())
        elsewhere = tokens.sign(SECRET, tokens.Claims("access", "ev_other", "q_x", now + 600))
        expired = tokens.sign(SECRET, tokens.Claims("access", eid, "q_x", now - 1))
        queue_token = tokens.sign(SECRET, tokens.Claims("queue", eid, "q_x", now + 600))
        path = f"/api/events/{eid}/holds"
        big = "x" * (runtime.settings.max_body_bytes + 1)
        requests: list[tuple[str, str, dict[str, str], str | None]] = [
            ("POST", path, {}, '{"section":"FLOOR","quantity":1}'),
            ("POST", path, {"Authorization": "Bearer junk"}, '{"section":"FLOOR","quantity":1}'),
            ("POST", path, {"Authorization": "Basic abc"}, '{"section":"FLOOR","quantity":1}'),
            ("POST", path, auth(elsewhere), '{"section":"FLOOR","quantity":1}'),
            ("POST", path, auth(expired), '{"section":"FLOOR","quantity":1}'),
            ("POST", path, auth(queue_token), '{"section":"FLOOR","quantity":1}'),
            ("POST", "/api/events/ev_nope/holds", auth(access), "{}"),
            ("POST", f"/api/events/{'e' * 65}/holds", auth(access), "{}"),
            ("POST", "/api/events/a%00b/holds", auth(access), "{}"),
            ("POST", path, auth(access), "not json"),
            ("POST", path, auth(access), "[1, 2]"),
            ("POST", path, auth(access), ""),
            ("POST", path, auth(access), '{"seats": "\\u0000"}'),
            ("POST", path, auth(access), "[" * 40 + "]" * 40),
            ("POST", path, auth(access), f'{{"pad": "{big}"}}'),
            ("POST", path, auth(access), '{"section":"NOPE","quantity":1}'),
            ("POST", path, auth(access), '{"section":"FLOOR","quantity":99}'),
            ("POST", path, auth(access), '{"seats":["BALC-Z-99"]}'),
            ("POST", path, auth(access), '{"seats":["BALC-A-1"]}'),
            ("GET", path, auth(access), None),
            ("PUT", path, auth(access), "{}"),
        ]
        for method, url, headers, body in requests:
            d = Delta()
            answers = [
                await c.request(
                    method,
                    url,
                    headers={**headers, "Content-Type": "application/json"},
                    content=body,
                )
                for c in (client, routed)
            ]
            hot, router = answers
            label = (method, url[:40], body and body[:40])
            assert hot.status_code == router.status_code, label
            assert hot.json() == router.json(), label
            assert hot.headers["content-type"] == router.headers["content-type"], label
            assert hot.headers.get("retry-after") == router.headers.get("retry-after"), label
            assert hot.headers["x-request-id"] and router.headers["x-request-id"], label
            if method == "POST":
                route = "/api/events/{event_id}/holds"
                status = str(hot.status_code)
                counted = d.of(
                    "onsale_http_requests_total", route=route, method=method, status=status
                )
                assert counted == 2, label
                if hot.status_code >= 400:
                    assert d.of("onsale_http_errors_total", code=error_code(hot)) == 2, label

        # and a hold that succeeds, once through each: the same answer but its id and time
        made = []
        for c in (client, routed):
            r = await c.post(path, headers=auth(access), json={"section": "FLOOR", "quantity": 2})
            assert r.status_code == 201, r.text
            assert r.headers["content-type"] == "application/json"
            made.append(r.json())
        assert made[0]["hold_id"] != made[1]["hold_id"]
        for m in made:
            del m["hold_id"], m["expires_at"]
        assert (
            made[0] == made[1] == {"seats": [], "section": "FLOOR", "quantity": 2, "state": "held"}
        )
