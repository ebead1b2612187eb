"""Issue 15, invariant I13: erasing a buyer leaves no copy of their e-mail
or name in any table of that venue, keeps the accounts (orders, amounts,
ticket numbers and codes), and leaves another venue's buyer with the same
e-mail untouched.

Old code: ``POST /api/admin/buyers/erase`` answered 404 (no such route); a
buyer's e-mail and name stayed in ``orders`` for as long as the database
lived.

The search reads ``information_schema``: every text, varchar and jsonb column
of every table, so a table another part adds later (the e-mail outbox) is
searched too without this test changing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.admin import erasure
from onsale.runtime import Runtime
from onsale.schema import idempotency, orders
from tests.conftest import Admit, auth
from tests.integration.api_helpers import error_code
from tests.security._staff import buy, new_event, new_venue

EMAIL = "fan@example.org"
NAME_A = "Alice Venue-A"
NAME_B = "Bea Venue-B"


async def find_everywhere(engine: AsyncEngine, needle: str) -> dict[str, int]:
    """Rows holding ``needle`` (any case) per ``table.column``, over every
    text-like column of every table of the database."""
    async with engine.connect() as conn:
        columns = (
            await conn.execute(
                sa.text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND data_type IN "
                    "('text', 'character varying', 'jsonb', 'json', 'character') "
                    "ORDER BY table_name, column_name"
                )
            )
        ).all()
        assert len(columns) > 20
        hits: dict[str, int] = {}
        for table, column in columns:
            count = (
                await conn.execute(
                    sa.text(f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE :needle'),
                    {"needle": f"%{needle}%"},
                )
            ).scalar_one()
            if count:
                hits[f"{table}.{column}"] = count
    return hits


async def _setup(
    client: httpx.AsyncClient, admitted: Admit
) -> tuple[dict[str, str], dict[str, str], str]:
    b = await new_venue(client)
    b_event = await new_event(client, b["api_key"])
    await buy(client, admitted, b_event["id"], EMAIL, NAME_B)
    a = await new_venue(client)
    r = await client.put(
        "/api/admin/venue-settings",
        json={"marketing_consent": {"enabled": True, "text_en": "News?", "text_fr": "Nouvelles ?"}},
        headers=auth(a["api_key"]),
    )
    assert r.status_code == 200, r.text
    a_event = await new_event(client, a["api_key"])
    await buy(client, admitted, a_event["id"], EMAIL, NAME_A, consent=True)
    await buy(client, admitted, a_event["id"], EMAIL.upper(), NAME_A, quantity=1)
    r = await client.post(
        f"/api/admin/events/{a_event['id']}/boxoffice",
        json={
            "section": "FLOOR",
            "quantity": 1,
            "buyer": {"email": EMAIL, "name": NAME_A},
            "payment": {"provider": "cash"},
        },
        headers=auth(a["api_key"]),
    )
    assert r.status_code == 201, r.text
    return a, b, a_event["id"]


async def _accounts(client: httpx.AsyncClient, key: str, event_id: str) -> object:
    stats = (await client.get(f"/api/admin/events/{event_id}/stats", headers=auth(key))).json()
    listed = (await client.get(f"/api/admin/events/{event_id}/orders", headers=auth(key))).json()
    return (
        stats["revenue_cents"],
        stats["sold"],
        [
            (o["order_id"], o["status"], o["total_cents"], o["currency"], o["tickets"])
            for o in listed["orders"]
        ],
    )


async def test_erasure_leaves_no_copy_and_keeps_the_accounts(
    client: httpx.AsyncClient, runtime: Runtime, admitted: Admit
) -> None:
    """Old code: 404, and the e-mail and name stayed in ``orders``."""
    a, b, a_event = await _setup(client, admitted)
    assert set(await find_everywhere(runtime.engine, NAME_A)) == {"orders.buyer_name"}
    # (The checkout's own stored answers hold no buyer; another step's may.)
    assert {"orders.buyer_email", "consents.email"} <= set(
        await find_everywhere(runtime.engine, EMAIL)
    )
    await _stored_answer_with_buyer(runtime.engine, a["id"])
    accounts = await _accounts(client, a["api_key"], a_event)
    b_hits_name = await find_everywhere(runtime.engine, NAME_B)

    r = await client.post(
        "/api/admin/buyers/erase", json={"email": EMAIL}, headers=auth(a["api_key"])
    )
    assert r.status_code == 200 and r.json() == {"orders_anonymized": 3}, r.text

    assert await find_everywhere(runtime.engine, NAME_A) == {}
    # What still holds the e-mail is venue B's, exactly as before.
    b_only = await _rows_of_venue_b(runtime.engine, b["id"])
    assert await find_everywhere(runtime.engine, EMAIL) == b_only
    assert await find_everywhere(runtime.engine, NAME_B) == b_hits_name
    # Revenue, orders, amounts, tickets (ids, codes, prices) are all the same.
    assert await _accounts(client, a["api_key"], a_event) == accounts
    b_export = (
        await client.get(f"/api/admin/buyers?email={EMAIL}", headers=auth(b["api_key"]))
    ).json()
    assert [o["buyer"] for o in b_export["orders"]] == [{"email": EMAIL, "name": NAME_B}]
    # Again: nothing left to erase, nothing changes.
    r = await client.post(
        "/api/admin/buyers/erase", json={"email": EMAIL}, headers=auth(a["api_key"])
    )
    assert r.json() == {"orders_anonymized": 0}


async def _stored_answer_with_buyer(engine: AsyncEngine, venue_id: str) -> None:
    """A stored answer that names the buyer (as a payment step's may): the
    erasure must clear it too."""
    async with engine.begin() as conn:
        order_id = (
            await conn.execute(sa.select(orders.c.id).where(orders.c.venue_id == venue_id).limit(1))
        ).scalar_one()
        await conn.execute(
            idempotency.insert().values(
                scope="payment:h_test",
                key="k-test-answer",
                request_hash="",
                state="done",
                status_code=201,
                response={"order_id": order_id, "buyer": {"email": EMAIL, "name": NAME_A}},
            )
        )


async def _rows_of_venue_b(engine: AsyncEngine, venue_b: str) -> dict[str, int]:
    """Where venue B's buyer appears (their order and its stored answer)."""
    async with engine.connect() as conn:
        n = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(orders).where(orders.c.venue_id == venue_b)
            )
        ).scalar_one()
    assert n == 1
    return {"orders.buyer_email": 1, "orders.buyer_email_norm": 1}


async def test_an_erasure_missing_a_place_is_caught(
    client: httpx.AsyncClient, runtime: Runtime, admitted: Admit
) -> None:
    """Negative control: erasing with the consents left out of the places (as
    an erasure of the ``orders`` columns alone would) leaves the buyer's
    e-mail in ``consents``, and the search finds it; the full table of places
    leaves nothing of venue A's buyer."""
    a, b, _ = await _setup(client, admitted)
    partial = tuple(p for p in erasure.PLACES if p.name != "consents")
    async with runtime.engine.begin() as conn:
        rows = (
            await conn.execute(
                sa.select(orders.c.id, orders.c.hold_id).where(orders.c.venue_id == a["id"])
            )
        ).all()
        scope = erasure.Scope(
            a["id"],
            tuple(r.id for r in rows),
            tuple(r.hold_id for r in rows if r.hold_id),
            (EMAIL,),
            datetime.now(UTC),
        )
        await erasure.anonymize(conn, scope, partial)
    b_only = await _rows_of_venue_b(runtime.engine, b["id"])
    assert await find_everywhere(runtime.engine, EMAIL) == {
        **b_only,
        "consents.email": 1,
        "consents.email_norm": 1,
    }
    async with runtime.engine.begin() as conn:
        await erasure.anonymize(conn, scope)
    assert await find_everywhere(runtime.engine, EMAIL) == b_only
    assert await find_everywhere(runtime.engine, NAME_A) == {}


async def test_export_holds_orders_tickets_and_consents(
    client: httpx.AsyncClient, admitted: Admit
) -> None:
    """Old code: 404. The export is everything this venue holds about the
    buyer, and nothing of another venue's."""
    a, _, _ = await _setup(client, admitted)
    r = await client.get(f"/api/admin/buyers?email={EMAIL}", headers=auth(a["api_key"]))
    assert r.status_code == 200
    body = r.json()
    assert len(body["orders"]) == 3
    assert {o["buyer"]["name"] for o in body["orders"]} == {NAME_A}
    assert all(o["tickets"] for o in body["orders"])
    assert [c["marketing"] for c in body["consents"]] == [True]
    assert NAME_B not in r.text


async def test_bad_erasure_requests_are_4xx_and_change_nothing(
    client: httpx.AsyncClient, runtime: Runtime, admitted: Admit
) -> None:
    a, _, _ = await _setup(client, admitted)
    for body in ({}, {"email": 3}, {"email": "nope"}, {"email": "x" * 300 + "@a.example"}):
        r = await client.post("/api/admin/buyers/erase", json=body, headers=auth(a["api_key"]))
        assert r.status_code == 422 and error_code(r) == "validation_error", body
    r = await client.post("/api/admin/buyers/erase", content=b"[1]", headers=auth(a["api_key"]))
    assert r.status_code == 400
    r = await client.get("/api/admin/buyers?email=", headers=auth(a["api_key"]))
    assert r.status_code == 422
    assert "orders.buyer_name" in await find_everywhere(runtime.engine, NAME_A)
