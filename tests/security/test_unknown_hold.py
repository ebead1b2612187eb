"""Issue 10, item 9: wrong answers for hold ids that never existed.

Old code: a checkout of a hold id that never existed, and of a live hold of
another event, both answered 409 ``hold_expired``:
``AssertionError: (409, '{"error":{"code":"hold_expired",...}}')``.

Now Redis remembers, for a day, the holds that ended (expired, released or
paid): such a hold still answers 409 ``hold_expired``; an id the event never
had answers 404 ``not_found``. After Redis lost its data and the inventory
was rebuilt mid-sale, unknown ids answer ``hold_expired`` for that day, since
the holds of before the loss are forgotten (and the fan page treats a 404 like
an expired hold anyway: back to choosing seats).
"""

from __future__ import annotations

import uuid

import httpx

from onsale.runtime import Runtime
from tests.conftest import Admit, MakeEvent, auth

CARD = {"provider": "test", "card_number": "4242424242424242"}
BUYER = {"email": "fan@example.org", "name": "Camille"}


async def _checkout(client: httpx.AsyncClient, hold_id: str, access: str) -> httpx.Response:
    return await client.post(
        f"/api/holds/{hold_id}/checkout",
        json={"buyer": BUYER, "payment": CARD},
        headers={**auth(access), "Idempotency-Key": str(uuid.uuid4())},
    )


def _code(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]


async def _hold(client: httpx.AsyncClient, event_id: str, access: str, seat: str) -> str:
    r = await client.post(
        f"/api/events/{event_id}/holds", json={"seats": [seat]}, headers=auth(access)
    )
    assert r.status_code == 201, r.text
    hold_id: str = r.json()["hold_id"]
    return hold_id


async def test_unknown_ids_are_404_and_ended_holds_409(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    eid = event["id"]
    other = await make_event()
    access = await admitted(eid)
    foreign = await _hold(client, other["id"], await admitted(other["id"]), "BALC-A-1")
    released = await _hold(client, eid, access, "BALC-A-1")
    assert (await client.delete(f"/api/holds/{released}", headers=auth(access))).status_code == 204
    expired = await _hold(client, eid, access, "BALC-A-2")
    # Drive the clock: the hold's expiry is now in the past for the scripts.
    await runtime.redis.zadd(runtime.inventory.store.keys(eid).expiries, {expired: 1})
    paid = await _hold(client, eid, access, "BALC-A-3")
    assert (await _checkout(client, paid, access)).status_code == 201
    for hold_id in (released, expired, paid):
        r = await _checkout(client, hold_id, access)
        assert _code(r) == (409, "hold_expired"), (hold_id, r.text)
        # A hold that became an order says so (another click, another key, paid it).
        assert (r.json()["error"]["details"].get("reason") == "paid") == (hold_id == paid)
    for hold_id in ("hold_0123456789abcdef", foreign, "x" * 40):
        r = await _checkout(client, hold_id, access)
        assert _code(r) == (404, "not_found"), (r.status_code, r.text)
    # Redis loses its data mid-sale: a hold of before the loss cannot be told
    # from an id that never was; it must not become a 404 then.
    lost = await _hold(client, eid, await admitted(eid), "BALC-A-4")
    await runtime.redis.flushdb()
    await runtime.reconciler.run_once()
    r = await _checkout(client, lost, access)
    assert _code(r) == (409, "hold_expired"), r.text
