"""I10: ticket numbers are sequential per venue, without gaps, never reused.

Concurrent box-office orders get the numbers 1..n exactly once; a transaction
that took numbers and then rolled back leaves no gap (negative control: with
the numbers taken outside the order's transaction, as a sequence would, the
rolled-back order leaves a hole); a refund keeps the number.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from onsale.runtime import Runtime
from onsale.schema import tickets
from onsale.tickets.numbering import Numbering
from tests.conftest import MakeEvent, auth

CASH = {"provider": "cash"}


def buyer(i: int) -> dict[str, str]:
    return {"email": f"fan{i}@example.org", "name": f"Fan {i}"}


async def sell(
    client: httpx.AsyncClient, key: str, event_id: str, i: int, quantity: int = 1
) -> dict[str, Any]:
    r = await client.post(
        f"/api/admin/events/{event_id}/boxoffice",
        json={"section": "FLOOR", "quantity": quantity, "buyer": buyer(i), "payment": CASH},
        headers=auth(key),
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def all_numbers(runtime: Runtime) -> list[int]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(sa.select(tickets.c.number).order_by(tickets.c.number))
        return [int(n) for (n,) in rows]


async def _rolled_back_order(numbering: Numbering, venue_id: str) -> None:
    """An order transaction that took its numbers and then failed."""
    with pytest.raises(RuntimeError):
        async with numbering.engine.begin() as conn:
            await numbering.assign(conn, venue_id, ["tkt_never_written"])
            raise RuntimeError("the order failed after numbering")


async def test_concurrent_orders_get_consecutive_numbers(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    sold = await asyncio.gather(
        *(sell(client, venue["api_key"], event["id"], i, quantity=1 + i % 2) for i in range(12))
    )
    numbers = sorted(t["number"] for order in sold for t in order["tickets"])
    assert numbers == list(range(1, 19))
    assert await all_numbers(runtime) == numbers
    # The order page and the venue's listing show the same numbers.
    r = await client.get(f"/api/admin/events/{event['id']}/orders", headers=auth(venue["api_key"]))
    listed = sorted(t["number"] for o in r.json()["orders"] for t in o["tickets"])
    assert listed == numbers
    csv = (
        await client.get(
            f"/api/admin/events/{event['id']}/orders.csv", headers=auth(venue["api_key"])
        )
    ).text
    assert csv.splitlines()[0].endswith(",ticket_number")


async def test_a_rolled_back_order_leaves_no_gap(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    await sell(client, venue["api_key"], event["id"], 1)
    await _rolled_back_order(Numbering(runtime.engine), venue["id"])
    await sell(client, venue["api_key"], event["id"], 2)
    assert await all_numbers(runtime) == [1, 2]


async def test_negative_control_numbers_outside_the_transaction_leave_a_gap(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    await sell(client, venue["api_key"], event["id"], 1)
    await _rolled_back_order(Numbering(runtime.engine, in_order_transaction=False), venue["id"])
    await sell(client, venue["api_key"], event["id"], 2)
    assert await all_numbers(runtime) == [1, 3]


async def test_a_refund_keeps_the_number_and_never_reuses_it(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    first = await sell(client, venue["api_key"], event["id"], 1)
    r = await client.post(
        f"/api/admin/orders/{first['order_id']}/refund", headers=auth(venue["api_key"])
    )
    assert r.status_code == 200, r.text
    assert [t["number"] for t in r.json()["tickets"]] == [1]
    assert r.json()["tickets"][0]["status"] == "void"
    second = await sell(client, venue["api_key"], event["id"], 2)
    assert [t["number"] for t in second["tickets"]] == [2]
