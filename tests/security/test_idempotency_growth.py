"""Issue 10, item 10a: idempotency rows an attacker can grow without bound.

Old code: every checkout of a random hold id stored an idempotency row (its
409 answer), kept forever:
``AssertionError: assert 50 == 0`` (50 random hold ids, 50 rows).

Now a checkout that names no hold of the caller's is answered before any row
is written, and the reconciler deletes rows older than a week whose answer is
not an order (a row whose answer is an order stays as long as the order, so a
late retry still gets the order and never pays twice).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import httpx
import sqlalchemy as sa

from onsale.checkout.reconciler import Reconciler
from onsale.payments.providers import DECLINED_CARD
from onsale.runtime import Runtime
from tests.conftest import Admit, MakeEvent, auth

BUYER = {"email": "fan@example.org", "name": "Camille"}
GOOD = {"provider": "test", "card_number": "4242424242424242"}
DECLINED = {"provider": "test", "card_number": DECLINED_CARD}


async def _rows(runtime: Runtime) -> int:
    async with runtime.engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM idempotency"))).scalar_one())


async def _checkout(
    client: httpx.AsyncClient, hold_id: str, access: str, card: dict[str, str], key: str
) -> httpx.Response:
    return await client.post(
        f"/api/holds/{hold_id}/checkout",
        json={"buyer": BUYER, "payment": card},
        headers={**auth(access), "Idempotency-Key": key},
    )


async def test_random_and_foreign_holds_store_nothing(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    access = await admitted(event["id"])
    other = await admitted(event["id"])
    r = await client.post(
        f"/api/events/{event['id']}/holds", json={"seats": ["BALC-A-1"]}, headers=auth(other)
    )
    theirs = r.json()["hold_id"]
    for _ in range(50):
        hold_id = f"hold_{secrets.token_hex(8)}"
        r = await _checkout(client, hold_id, access, GOOD, str(uuid.uuid4()))
        assert r.status_code in (404, 409), r.text
    r = await _checkout(client, theirs, access, GOOD, str(uuid.uuid4()))
    assert r.status_code == 403, r.text
    assert await _rows(runtime) == 0


async def test_old_rows_go_unless_their_answer_is_an_order(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    """Old code: nothing ever deleted a finished row (the reconciler had no
    such setting: ``TypeError: ... unexpected keyword argument
    'idempotency_keep'``); the week-old 402 answer stayed forever."""
    event = await make_event()
    access = await admitted(event["id"])
    r = await client.post(
        f"/api/events/{event['id']}/holds", json={"seats": ["BALC-A-1"]}, headers=auth(access)
    )
    hold_id = r.json()["hold_id"]
    declined_key, paid_key = str(uuid.uuid4()), str(uuid.uuid4())
    assert (await _checkout(client, hold_id, access, DECLINED, declined_key)).status_code == 402
    paid = await _checkout(client, hold_id, access, GOOD, paid_key)
    assert paid.status_code == 201, paid.text
    async with runtime.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE idempotency SET created_at = now() - interval '8 days'"))
    reconciler = Reconciler(
        runtime.events,
        runtime.engine,
        runtime.recovery.repair,
        runtime.providers,
        orphan_after=timedelta(0),
        settle_after=timedelta(0),
        idempotency_keep=timedelta(days=7),
    )
    await reconciler.run_once()
    assert await _rows(runtime) == 1
    # A retry of the paid checkout, however late, gets the order again.
    again = await _checkout(client, hold_id, access, GOOD, paid_key)
    assert again.status_code == 200 and again.json() == paid.json(), again.text
