"""Issue 10, item 2: concurrent checkouts of one hold with different keys.

Old code (8 parallel checkouts of one hold, different Idempotency-Keys):
``AssertionError: [500, 201, 500, 500, 500, 500, 500, 500]``: the losers all
reached the provider, then Postgres refused their second order for the hold
(``orders_hold_id_key``) and the IntegrityError became a 500, leaving seven
authorized payments for the reconciler to void minutes later.

Now begin_checkout claims the hold for one attempt (Redis, atomically): the
others answer 409 ``checkout_in_progress`` before any payment is tried.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import sqlalchemy as sa

from onsale.checkout.service import CheckoutService
from onsale.payments.providers import TestProvider
from onsale.runtime import Runtime
from tests.conftest import Admit, MakeEvent, auth

CARD = {"provider": "test", "card_number": "4242424242424242"}
BUYER = {"email": "fan@example.org", "name": "Camille"}
CLICKS = 8


async def _hold(client: httpx.AsyncClient, event_id: str, access: str, seat: str) -> str:
    r = await client.post(
        f"/api/events/{event_id}/holds", json={"seats": [seat]}, headers=auth(access)
    )
    assert r.status_code == 201, r.text
    hold_id: str = r.json()["hold_id"]
    return hold_id


async def _burst(client: httpx.AsyncClient, hold_id: str, access: str) -> list[int]:
    async def one() -> int:
        r = await client.post(
            f"/api/holds/{hold_id}/checkout",
            json={"buyer": BUYER, "payment": CARD},
            headers={**auth(access), "Idempotency-Key": str(uuid.uuid4())},
        )
        if r.status_code == 409:
            error = r.json()["error"]
            # Another click is paying, or has paid: never "your hold expired".
            assert error["code"] == "checkout_in_progress" or (
                error["code"] == "hold_expired" and error["details"] == {"reason": "paid"}
            ), r.text
        return r.status_code

    return list(await asyncio.gather(*(one() for _ in range(CLICKS))))


async def _payments(runtime: Runtime) -> dict[str, int]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT status, count(*) FROM payments GROUP BY 1"))
        return {str(s): int(n) for s, n in rows.all()}


async def test_one_hold_paid_once_whatever_the_clicks(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    provider = runtime.providers["test"]
    assert isinstance(provider, TestProvider)
    provider.latency_seconds = 0.05  # the provider's round trip: the race window
    event = await make_event()
    for seat in ("BALC-A-1", "BALC-A-2", "BALC-A-3", "BALC-B-1"):
        access = await admitted(event["id"])
        hold_id = await _hold(client, event["id"], access, seat)
        statuses = await _burst(client, hold_id, access)
        assert sorted(statuses) == [201] + [409] * (CLICKS - 1), statuses
    # The provider saw one authorization per hold, each captured; nothing to void.
    assert sorted(c.status for c in provider.charges.values()) == ["captured"] * 4
    assert await _payments(runtime) == {"captured": 4}
    repairs = await runtime.reconciler.run_once()
    assert repairs.counts["payment_voided"] == 0, repairs.counts


async def test_without_the_claim_the_losers_reach_the_provider(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    """Negative control: with the exclusive claim off, the parallel attempts
    all authorize; the losers are voided at once (a 409, never a 500), but the
    fan's card saw several authorizations for one hold.

    Old code: there was no claim to switch off (``TypeError: ... unexpected
    keyword argument 'exclusive_checkout'``), and the losers answered 500."""
    provider = runtime.providers["test"]
    assert isinstance(provider, TestProvider)
    provider.latency_seconds = 0.05
    runtime.checkout = CheckoutService(
        runtime.engine,
        runtime.inventory.store,
        runtime.providers,
        runtime.settings,
        runtime.signer,
        exclusive_checkout=False,
    )
    event = await make_event()
    access = await admitted(event["id"])
    hold_id = await _hold(client, event["id"], access, "BALC-A-1")
    statuses = await _burst(client, hold_id, access)
    assert statuses.count(201) == 1 and not [s for s in statuses if s >= 500], statuses
    assert len(provider.charges) > 1
    assert sorted({c.status for c in provider.charges.values()}) == ["captured", "voided"]
