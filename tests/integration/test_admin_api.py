"""The platform and venue administration endpoints of API.md against real Redis
and Postgres: venues, events, stats, orders and exports, box office, refunds,
and one venue never seeing another's."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from onsale.runtime import Runtime
from tests.conftest import ADMIN_TOKEN, Admit, MakeEvent, auth, event_body, iso
from tests.integration.api_helpers import charges, error_code, hold, seat_states

CARD = {"provider": "test", "card_number": "4242424242424242"}
BUYER = {"email": "fan@example.org", "name": "Camille"}
CASH = {"provider": "cash"}
STAT_KEYS = {"capacity", "sold", "held", "available", "queue", "orders", "revenue_cents"}


# ------------------------------------------------------------------ helpers


async def new_venue(client: httpx.AsyncClient, slug: str) -> dict[str, str]:
    r = await client.post(
        "/api/admin/venues",
        json={"name": f"Venue {slug}", "slug": slug, "timezone": "Europe/Paris"},
        headers=auth(ADMIN_TOKEN),
    )
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


async def new_event(client: httpx.AsyncClient, key: str, **kwargs: Any) -> dict[str, Any]:
    r = await client.post("/api/admin/events", json=event_body(**kwargs), headers=auth(key))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def stats(client: httpx.AsyncClient, key: str, event_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/admin/events/{event_id}/stats", headers=auth(key))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert set(body) >= STAT_KEYS, body
    assert set(body["queue"]) >= {"waiting", "admitted", "active"}
    return {k: body[k] for k in STAT_KEYS}


async def buy(
    client: httpx.AsyncClient,
    event_id: str,
    access: str,
    body: dict[str, Any],
    buyer: dict[str, str] | None = None,
) -> dict[str, Any]:
    h = await hold(client, event_id, access, body)
    r = await client.post(
        f"/api/holds/{h['hold_id']}/checkout",
        json={"buyer": buyer or BUYER, "payment": CARD},
        headers={**auth(access), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def boxoffice(
    client: httpx.AsyncClient, key: str, event_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/api/admin/events/{event_id}/boxoffice", json=body, headers=auth(key)
    )


# ------------------------------------------------------------------ venues


async def test_create_venue(client: httpx.AsyncClient, runtime: Runtime) -> None:
    body = {"name": "Le Petit Bain", "slug": "petit-bain", "timezone": "Europe/Paris"}
    r = await client.post("/api/admin/venues", json=body, headers=auth(ADMIN_TOKEN))
    assert r.status_code == 201, r.text
    venue = r.json()
    assert venue["slug"] == "petit-bain"
    assert isinstance(venue["id"], str) and venue["id"]
    assert isinstance(venue["api_key"], str) and len(venue["api_key"]) >= 32
    # The key works at once.
    r = await client.get("/api/admin/events", headers=auth(venue["api_key"]))
    assert r.status_code == 200 and r.json() == {"events": []}

    r = await client.post("/api/admin/venues", json=body, headers=auth(ADMIN_TOKEN))
    assert r.status_code == 409 and error_code(r) == "already_exists", r.text


async def test_create_venue_needs_the_platform_token(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    body = {"name": "Sneaky", "slug": "sneaky", "timezone": "UTC"}
    for headers in (
        {},
        auth("wrong-token"),
        auth(ADMIN_TOKEN + "x"),
        auth(venue["api_key"]),
        {"Authorization": ADMIN_TOKEN},
    ):
        r = await client.post("/api/admin/venues", json=body, headers=headers)
        assert r.status_code == 401 and error_code(r) == "unauthorized", (headers, r.text)
    r = await client.post("/api/admin/venues", json=body, headers=auth(ADMIN_TOKEN))
    assert r.status_code == 201  # nothing was made by the refused attempts


async def test_create_venue_validation(client: httpx.AsyncClient) -> None:
    good = {"name": "Venue", "slug": "good-slug", "timezone": "Europe/Paris"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "slug": "Bad Slug"}, "slug"),
        ({**good, "slug": "a"}, "slug"),
        ({**good, "slug": "-dash-first"}, "slug"),
        ({**good, "slug": "x" * 64}, "slug"),
        ({**good, "slug": "sl/ug"}, "slug"),
        ({**good, "slug": 42}, "slug"),
        ({"name": "Venue", "timezone": "UTC"}, "slug"),
        ({**good, "name": ""}, "name"),
        ({**good, "name": None}, "name"),
        ({**good, "timezone": "Mars/Olympus"}, "timezone"),
        ({**good, "timezone": 1}, "timezone"),
    ]
    for body, field in cases:
        r = await client.post("/api/admin/venues", json=body, headers=auth(ADMIN_TOKEN))
        assert r.status_code == 422 and error_code(r) == "validation_error", (body, r.text)
        assert set(r.json()["error"]["details"]["fields"]) == {field}, (body, r.text)
    r = await client.post("/api/admin/venues", content=b"slug=x", headers=auth(ADMIN_TOKEN))
    assert r.status_code == 400 and error_code(r) == "invalid_request"


# ------------------------------------------------------------------ events


async def test_create_event(client: httpx.AsyncClient, venue: dict[str, str]) -> None:
    body = event_body(ga=50, rows={"A": 3, "BB": 2})
    r = await client.post("/api/admin/events", json=body, headers=auth(venue["api_key"]))
    assert r.status_code == 201, r.text
    event = r.json()
    assert isinstance(event["id"], str) and event["id"]
    assert event["name"] == "Night show"
    assert event["limits"] == {"per_order": 6, "per_buyer": 6}
    assert event["hold_seconds"] == 300
    # API.md's admission fields (more may be added).
    assert {k: event["admission"][k] for k in body["admission"]} == {
        "rate_per_minute": 6000,
        "max_active": 200,
        "session_seconds": 600,
    }
    assert event["categories"] == body["categories"]
    assert [(s["code"], s["kind"], s["capacity"]) for s in event["sections"]] == [
        ("FLOOR", "ga", 50),
        ("BALC", "seated", 5),
    ]
    seats = await seat_states(client, event["id"])
    assert list(seats) == ["BALC-A-1", "BALC-A-2", "BALC-A-3", "BALC-BB-1", "BALC-BB-2"]
    assert set(seats.values()) == {"free"}

    r = await client.get(f"/api/admin/events/{event['id']}", headers=auth(venue["api_key"]))
    assert r.status_code == 200 and r.json() == event


def _mutated(path: list[Any], value: Any) -> dict[str, Any]:
    body = event_body()
    node: Any = body
    for step in path[:-1]:
        node = node[step]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return body


_DELETE = object()


async def test_create_event_validation_names_the_bad_fields(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    key = venue["api_key"]
    cases: list[tuple[list[Any], Any, str]] = [
        (["name"], "", "name"),
        (["name"], _DELETE, "name"),
        (["starts_at"], "tomorrow night", "starts_at"),
        (["starts_at"], "2026-12-31T20:00:00", "starts_at"),
        (["sale", "opens_at"], _DELETE, "sale.opens_at"),
        (["sale", "closes_at"], "2000-01-01T00:00:00Z", "sale.closes_at"),
        (["sale", "prequeue_opens_at"], "2099-01-01T00:00:00Z", "sale.prequeue_opens_at"),
        (["admission", "rate_per_minute"], 0, "admission.rate_per_minute"),
        (["admission", "max_active"], "many", "admission.max_active"),
        (["hold_seconds"], 5, "hold_seconds"),
        (["hold_seconds"], 10**30, "hold_seconds"),
        (["limits", "per_order"], 0, "limits.per_order"),
        (["limits", "per_buyer"], -1, "limits.per_buyer"),
        (["categories", 0, "currency"], "euro", "categories[0].currency"),
        (["categories", 0, "price_cents"], -100, "categories[0].price_cents"),
        (["sections", 0, "category"], 7, "sections[0].category"),
        (["categories", 0, "currency"], None, "categories[0].currency"),
        (["sections", 0, "kind"], "box", "sections[0].kind"),
        (["sections", 0, "capacity"], 0, "sections[0].capacity"),
        (["sections", 0, "code"], "FL-OOR", "sections[0].code"),
        (["sections", 1, "code"], "FLOOR", "sections"),
        (["sections", 1, "rows", 0, "seats"], 0, "sections[1].rows[0].seats"),
        (["sections", 1, "rows", 0, "row"], "a-b", "sections[1].rows[0].row"),
        (["sections", 1, "category"], "VIP", "sections[1].category"),
        (["sections"], [], "sections"),
    ]
    before = (await client.get("/api/admin/events", headers=auth(key))).json()
    for path, value, field in cases:
        body = _mutated(path, value)
        r = await client.post("/api/admin/events", json=body, headers=auth(key))
        assert r.status_code == 422 and error_code(r) == "validation_error", (path, r.text)
        assert set(r.json()["error"]["details"]["fields"]) == {field}, (path, r.text)

    # Several faults at once: every one is named.
    body = _mutated(["name"], "")
    body["hold_seconds"] = 1
    body["limits"]["per_order"] = "six"
    r = await client.post("/api/admin/events", json=body, headers=auth(key))
    assert r.status_code == 422
    assert set(r.json()["error"]["details"]["fields"]) == {
        "name",
        "hold_seconds",
        "limits.per_order",
    }
    assert (await client.get("/api/admin/events", headers=auth(key))).json() == before


async def test_events_need_a_venue_key(client: httpx.AsyncClient, venue: dict[str, str]) -> None:
    for headers in ({}, auth(ADMIN_TOKEN), auth("vk_forged"), {"Authorization": "Basic eA=="}):
        r = await client.post("/api/admin/events", json=event_body(), headers=headers)
        assert r.status_code == 401 and error_code(r) == "unauthorized", r.text
        r = await client.get("/api/admin/events", headers=headers)
        assert r.status_code == 401 and error_code(r) == "unauthorized", r.text
    r = await client.get("/api/admin/events", headers=auth(venue["api_key"]))
    assert r.json() == {"events": []}


async def test_each_venue_lists_only_its_own_events(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    other = await new_venue(client, "other-venue")
    mine = [await new_event(client, venue["api_key"]) for _ in range(2)]
    theirs = await new_event(client, other["api_key"])
    r = await client.get("/api/admin/events", headers=auth(venue["api_key"]))
    assert r.status_code == 200
    assert sorted(e["id"] for e in r.json()["events"]) == sorted(e["id"] for e in mine)
    assert all(e["venue_id"] == venue["id"] for e in r.json()["events"])
    r = await client.get("/api/admin/events", headers=auth(other["api_key"]))
    assert [e["id"] for e in r.json()["events"]] == [theirs["id"]]


async def test_patch_changes_limits_and_sale_window(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], admitted: Admit
) -> None:
    key = venue["api_key"]
    event = await new_event(client, key)
    eid = event["id"]
    url = f"/api/admin/events/{eid}"
    access = await admitted(eid)

    r = await client.patch(url, json={"limits": {"per_order": 1}}, headers=auth(key))
    assert r.status_code == 200, r.text
    assert r.json()["limits"] == {"per_order": 1, "per_buyer": 6}
    assert (await client.get(url, headers=auth(key))).json() == r.json()
    r = await client.post(
        f"/api/events/{eid}/holds", json={"section": "FLOOR", "quantity": 2}, headers=auth(access)
    )
    assert r.status_code == 409 and error_code(r) == "limit_exceeded", r.text
    await hold(client, eid, access, {"section": "FLOOR", "quantity": 1})

    now = datetime.now(UTC)
    sale = {
        "prequeue_opens_at": iso(now + timedelta(hours=1)),
        "opens_at": iso(now + timedelta(hours=2)),
    }
    r = await client.patch(url, json={"sale": sale, "name": "Later show"}, headers=auth(key))
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Later show"
    assert r.json()["sale"]["closes_at"] == event["sale"]["closes_at"]
    public = (await client.get(f"/api/events/{eid}")).json()
    assert public["status"] == "scheduled" and public["name"] == "Later show"
    r = await client.post(f"/api/events/{eid}/queue")
    assert r.status_code == 409 and error_code(r) == "sale_not_open", r.text

    for body, field in (
        ({"sections": []}, "sections"),
        ({"categories": []}, "categories"),
        ({"hold_seconds": 1}, "hold_seconds"),
        ({"sale": {"opens_at": "soon"}}, "sale.opens_at"),
        ({"limits": {"per_buyer": 0}}, "limits.per_buyer"),
    ):
        r = await client.patch(url, json=body, headers=auth(key))
        assert r.status_code == 422 and error_code(r) == "validation_error", (body, r.text)
        assert field in r.json()["error"]["details"]["fields"], (body, r.text)
    r = await client.get(url, headers=auth(key))
    assert r.json()["limits"]["per_order"] == 1 and r.json()["hold_seconds"] == 300


async def test_another_venue_sees_nothing(
    client: httpx.AsyncClient, venue: dict[str, str], make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    eid = event["id"]
    access = await admitted(eid)
    order = await buy(client, eid, access, {"seats": ["BALC-A-1"]})
    other = await new_venue(client, "nosy-venue")
    theirs = auth(other["api_key"])
    sale = {"seats": ["BALC-A-2"], "buyer": BUYER, "payment": CASH}

    requests = [
        ("GET", f"/api/admin/events/{eid}", None),
        ("PATCH", f"/api/admin/events/{eid}", {"name": "Hijacked"}),
        ("GET", f"/api/admin/events/{eid}/stats", None),
        ("GET", f"/api/admin/events/{eid}/orders", None),
        ("GET", f"/api/admin/events/{eid}/orders.csv", None),
        ("POST", f"/api/admin/events/{eid}/boxoffice", sale),
        ("POST", f"/api/admin/orders/{order['order_id']}/refund", None),
    ]
    for method, path, body in requests:
        r = await client.request(method, path, json=body, headers=theirs)
        assert r.status_code == 404 and error_code(r) == "not_found", (path, r.text)
        r = await client.request(method, path, json=body)
        assert r.status_code == 401 and error_code(r) == "unauthorized", (path, r.text)

    mine = auth(venue["api_key"])
    assert (await client.get(f"/api/admin/events/{eid}", headers=mine)).json()[
        "name"
    ] == "Night show"
    assert (await seat_states(client, eid))["BALC-A-2"] == "free"
    r = await client.get(f"/api/orders/{order['order_id']}", headers=auth(order["order_token"]))
    assert r.json()["status"] == "paid"
    r = await client.get(f"/api/admin/events/{eid}/orders", headers=mine)
    assert [o["order_id"] for o in r.json()["orders"]] == [order["order_id"]]


# ------------------------------------------------------------- stats, orders


async def test_stats_follow_sales_holds_queue_and_refunds(
    client: httpx.AsyncClient, venue: dict[str, str], make_event: MakeEvent, admitted: Admit
) -> None:
    key = venue["api_key"]
    event = await make_event(max_active=2)
    eid = event["id"]
    assert await stats(client, key, eid) == {
        "capacity": 120,
        "sold": 0,
        "held": 0,
        "available": 120,
        "queue": {"waiting": 0, "admitted": 0, "active": 0},
        "orders": 0,
        "revenue_cents": 0,
    }
    fan1 = await admitted(eid)
    fan2 = await admitted(eid)
    order = await buy(client, eid, fan1, {"seats": ["BALC-A-1", "BALC-A-2"]})
    await hold(client, eid, fan2, {"section": "FLOOR", "quantity": 3})
    r = await client.post(f"/api/events/{eid}/queue")
    assert r.status_code == 201
    assert await stats(client, key, eid) == {
        "capacity": 120,
        "sold": 2,
        "held": 3,
        "available": 115,
        "queue": {"waiting": 1, "admitted": 2, "active": 1},
        "orders": 1,
        "revenue_cents": 5200,
    }
    r = await client.post(f"/api/admin/orders/{order['order_id']}/refund", headers=auth(key))
    assert r.status_code == 200, r.text
    after = await stats(client, key, eid)
    assert (after["sold"], after["held"], after["available"]) == (0, 3, 117)
    assert (after["orders"], after["revenue_cents"]) == (0, 0)


async def test_orders_as_json_and_csv(
    client: httpx.AsyncClient, venue: dict[str, str], make_event: MakeEvent, admitted: Admit
) -> None:
    key = venue["api_key"]
    event = await make_event()
    eid = event["id"]
    access = await admitted(eid)
    online = await buy(client, eid, access, {"seats": ["BALC-A-1", "BALC-A-2"]})
    buyer2 = {"email": "walk-in@example.org", "name": "=Walk, In"}
    r = await boxoffice(
        client, key, eid, {"section": "FLOOR", "quantity": 1, "buyer": buyer2, "payment": CASH}
    )
    assert r.status_code == 201, r.text
    counter = r.json()

    r = await client.get(f"/api/admin/events/{eid}/orders", headers=auth(key))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    orders = r.json()["orders"]
    assert [o["order_id"] for o in orders] == [online["order_id"], counter["order_id"]]
    first, second = orders
    assert {k: first[k] for k in ("status", "channel", "buyer", "total_cents", "currency")} == {
        "status": "paid",
        "channel": "online",
        "buyer": BUYER,
        "total_cents": 5200,
        "currency": "EUR",
    }
    created = datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60
    assert [
        {k: t[k] for k in ("ticket_id", "section", "seat", "price_cents", "fee_cents", "status")}
        for t in first["tickets"]
    ] == [
        {
            "ticket_id": t["ticket_id"],
            "section": "BALC",
            "seat": seat,
            "price_cents": 2500,
            "fee_cents": 100,
            "status": "live",
        }
        for t, seat in zip(online["tickets"], ["BALC-A-1", "BALC-A-2"], strict=True)
    ]
    assert second["channel"] == "boxoffice" and second["buyer"] == buyer2
    assert [(t["section"], t["seat"], t["status"]) for t in second["tickets"]] == [
        ("FLOOR", None, "live")
    ]

    for path, headers in (
        (f"/api/admin/events/{eid}/orders.csv", auth(key)),
        (f"/api/admin/events/{eid}/orders", {**auth(key), "Accept": "text/csv"}),
    ):
        r = await client.get(path, headers=headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [(row["order_id"], row["seat"], row["channel"]) for row in rows] == [
            (online["order_id"], "BALC-A-1", "online"),
            (online["order_id"], "BALC-A-2", "online"),
            (counter["order_id"], "", "boxoffice"),
        ]
        assert rows[0]["buyer_email"] == "fan@example.org" and rows[0]["total_cents"] == "5200"
        assert rows[0]["price_cents"] == "2500" and rows[0]["fee_cents"] == "100"
        assert rows[2]["buyer_name"] == "'=Walk, In"  # never a spreadsheet formula

    r = await client.get(f"/api/admin/events/{eid}/orders?q=walk-in", headers=auth(key))
    assert [o["order_id"] for o in r.json()["orders"]] == [counter["order_id"]]
    r = await client.get(f"/api/admin/events/{eid}/orders?q=%00%27%3B--", headers=auth(key))
    assert r.status_code == 200 and r.json() == {"orders": []}


# -------------------------------------------------------------- box office


async def test_boxoffice_sells_cash_and_card_around_the_queue_not_the_inventory(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    key = venue["api_key"]
    event = await make_event(max_active=1, per_order=2, per_buyer=2)
    eid = event["id"]
    access = await admitted(eid)  # the only shopper slot is taken
    await hold(client, eid, access, {"seats": ["BALC-A-1"]})

    r = await boxoffice(
        client, key, eid, {"seats": ["BALC-A-1", "BALC-A-2"], "buyer": BUYER, "payment": CASH}
    )
    assert r.status_code == 409 and error_code(r) == "seats_unavailable", r.text
    assert r.json()["error"]["details"]["unavailable"] == ["BALC-A-1"]
    states = await seat_states(client, eid)
    assert (states["BALC-A-1"], states["BALC-A-2"]) == ("held", "free")

    # No queue, and no per-order or per-buyer limit at the counter.
    r = await boxoffice(
        client,
        key,
        eid,
        {"seats": ["BALC-B-1", "BALC-B-2", "BALC-B-3"], "buyer": BUYER, "payment": CASH},
    )
    assert r.status_code == 201, r.text
    cash = r.json()
    assert cash["status"] == "paid" and cash["total_cents"] == 3 * 2600
    assert [t["seat"] for t in cash["tickets"]] == ["BALC-B-1", "BALC-B-2", "BALC-B-3"]
    assert charges(runtime) == []  # cash never reaches the card provider

    r = await boxoffice(
        client, key, eid, {"section": "FLOOR", "quantity": 4, "buyer": BUYER, "payment": CARD}
    )
    assert r.status_code == 201, r.text
    assert [(t["section"], t["seat"]) for t in r.json()["tickets"]] == [("FLOOR", None)] * 4
    assert charges(runtime) == [(4 * 2600, "captured")]

    states = await seat_states(client, eid)
    assert [states[f"BALC-B-{n}"] for n in (1, 2, 3)] == ["sold"] * 3
    s = await stats(client, key, eid)
    assert (s["sold"], s["held"], s["orders"], s["revenue_cents"]) == (7, 1, 2, 7 * 2600)
    r = await client.get(f"/api/admin/events/{eid}/orders", headers=auth(key))
    assert [o["channel"] for o in r.json()["orders"]] == ["boxoffice", "boxoffice"]


async def test_boxoffice_refusals_take_nothing(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    key = venue["api_key"]
    event = await make_event(ga=5, rows={"A": 150})
    eid = event["id"]
    declined = {"provider": "test", "card_number": "4000000000000002"}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"seats": ["BALC-A-1"], "buyer": BUYER, "payment": declined}, 402, "payment_declined"),
        (
            {"seats": ["BALC-A-1"], "buyer": {"email": "x"}, "payment": CASH},
            422,
            "validation_error",
        ),
        ({"seats": ["BALC-A-1"], "buyer": BUYER}, 422, "validation_error"),
        ({"seats": ["BALC-Q-1"], "buyer": BUYER, "payment": CASH}, 422, "validation_error"),
        (
            {"section": "FLOOR", "quantity": 6, "buyer": BUYER, "payment": CASH},
            409,
            "seats_unavailable",
        ),
        (
            {"seats": [f"BALC-A-{n}" for n in range(1, 102)], "buyer": BUYER, "payment": CASH},
            422,
            "validation_error",
        ),
    ]
    for body, status, code in cases:
        r = await boxoffice(client, key, eid, body)
        assert (r.status_code, error_code(r)) == (status, code), (body, r.text)
    assert set((await seat_states(client, eid)).values()) == {"free"}
    s = await stats(client, key, eid)
    assert (s["sold"], s["held"], s["available"], s["orders"]) == (0, 0, 155, 0)
    assert charges(runtime) == [(2600, "declined")]


async def test_boxoffice_at_the_dearest_price_fits_the_money_columns(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    key = venue["api_key"]
    body = event_body(ga=0, rows={"A": 150})
    body["categories"][0].update(price_cents=10_000_000, fee_cents=1_000_000)
    r = await client.post("/api/admin/events", json=body, headers=auth(key))
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    seats = [f"BALC-A-{n}" for n in range(1, 101)]
    r = await boxoffice(client, key, eid, {"seats": seats, "buyer": BUYER, "payment": CASH})
    assert r.status_code == 201, r.text
    assert r.json()["total_cents"] == 100 * 11_000_000
    s = await stats(client, key, eid)
    assert (s["sold"], s["revenue_cents"]) == (100, 1_100_000_000)


# ------------------------------------------------------------------ refunds


async def test_refund_voids_tickets_and_puts_places_back_on_sale(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    key = venue["api_key"]
    event = await make_event(ga=3)
    eid = event["id"]
    fan1 = await admitted(eid)
    fan2 = await admitted(eid)
    seated = await buy(client, eid, fan1, {"seats": ["BALC-A-1", "BALC-A-2"]})
    ga = await buy(client, eid, fan2, {"section": "FLOOR", "quantity": 3})
    assert (await client.get(f"/api/events/{eid}")).json()["sections"][0]["available"] == 0

    url = f"/api/admin/orders/{seated['order_id']}/refund"
    r = await client.post(url, headers=auth(key))
    assert r.status_code == 200, r.text
    refunded = r.json()
    assert refunded["order_id"] == seated["order_id"] and refunded["status"] == "refunded"
    assert [t["status"] for t in refunded["tickets"]] == ["void", "void"]
    states = await seat_states(client, eid)
    assert (states["BALC-A-1"], states["BALC-A-2"]) == ("free", "free")
    assert charges(runtime) == [(5200, "refunded"), (7800, "captured")]
    r = await client.get(f"/api/orders/{seated['order_id']}", headers=auth(seated["order_token"]))
    assert r.json()["status"] == "refunded"
    assert [t["status"] for t in r.json()["tickets"]] == ["void", "void"]

    before = await stats(client, key, eid)
    again = await client.post(url, headers=auth(key))
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "refunded"
    assert await stats(client, key, eid) == before
    assert charges(runtime) == [(5200, "refunded"), (7800, "captured")]

    r = await client.post(f"/api/admin/orders/{ga['order_id']}/refund", headers=auth(key))
    assert r.status_code == 200
    s = await stats(client, key, eid)
    assert (s["sold"], s["held"], s["available"], s["orders"], s["revenue_cents"]) == (
        0,
        0,
        23,
        0,
        0,
    )
    # Back on sale for real: another fan buys the refunded places.
    fan3 = await admitted(eid)
    await buy(
        client, eid, fan3, {"seats": ["BALC-A-1", "BALC-A-2"]}, {"email": "y@x.org", "name": "Y"}
    )
    r = await boxoffice(
        client, key, eid, {"section": "FLOOR", "quantity": 3, "buyer": BUYER, "payment": CASH}
    )
    assert r.status_code == 201, r.text
    # A cash sale is refunded at the counter: no provider to call.
    r = await client.post(f"/api/admin/orders/{r.json()['order_id']}/refund", headers=auth(key))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "refunded" and r.json()["channel"] == "boxoffice"
    s = await stats(client, key, eid)
    assert (s["sold"], s["available"], s["orders"], s["revenue_cents"]) == (2, 21, 1, 5200)


async def test_refund_of_unknown_order_and_refunds_in_parallel(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    key = venue["api_key"]
    r = await client.post("/api/admin/orders/ord_nope/refund", headers=auth(key))
    assert r.status_code == 404 and error_code(r) == "not_found"
    r = await client.post("/api/admin/orders/ord_nope/refund")
    assert r.status_code == 401 and error_code(r) == "unauthorized"

    event = await make_event()
    eid = event["id"]
    access = await admitted(eid)
    order = await buy(client, eid, access, {"section": "FLOOR", "quantity": 2})
    url = f"/api/admin/orders/{order['order_id']}/refund"
    answers = await asyncio.gather(*(client.post(url, headers=auth(key)) for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    s = await stats(client, key, eid)
    assert (s["sold"], s["available"], s["orders"]) == (0, 120, 0)
    assert (await client.get(f"/api/events/{eid}")).json()["sections"][0]["available"] == 100
    assert charges(runtime) == [(5200, "refunded")]
