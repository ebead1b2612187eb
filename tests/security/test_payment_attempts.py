"""Issue 10, item 7: no limit on payment attempts per hold (card testing).

Old code: 15 declined cards, each with its own Idempotency-Key, then a good
one, were all tried on one hold:
``AssertionError: assert 402 == 429`` at the sixth attempt, and the provider
saw 16 authorizations.

Now after 5 declines on one hold any further attempt (any card, any key)
answers 429 ``rate_limited`` with ``Retry-After`` (until the hold expires),
before the provider is called. The count lives in the hold's record in Redis,
so every process sees it.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from onsale.checkout.service import MAX_DECLINES, CheckoutService
from onsale.errors import RateLimited
from onsale.payments.providers import DECLINED_CARD, TestProvider
from onsale.runtime import Runtime
from tests.conftest import Admit, MakeEvent, auth

BUYER = {"email": "fan@example.org", "name": "Camille"}
GOOD = "4242424242424242"


async def _attempt(
    client: httpx.AsyncClient, hold_id: str, access: str, card: str
) -> httpx.Response:
    return await client.post(
        f"/api/holds/{hold_id}/checkout",
        json={"buyer": BUYER, "payment": {"provider": "test", "card_number": card}},
        headers={**auth(access), "Idempotency-Key": str(uuid.uuid4())},
    )


async def _scene(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> tuple[str, str, str]:
    event = await make_event()
    access = await admitted(event["id"])
    r = await client.post(
        f"/api/events/{event['id']}/holds", json={"seats": ["BALC-A-1"]}, headers=auth(access)
    )
    assert r.status_code == 201, r.text
    return event["id"], r.json()["hold_id"], access


async def test_five_declines_then_rate_limited(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    provider = runtime.providers["test"]
    assert isinstance(provider, TestProvider)
    event_id, hold_id, access = await _scene(client, make_event, admitted)
    assert MAX_DECLINES == 5
    for _ in range(MAX_DECLINES):
        r = await _attempt(client, hold_id, access, DECLINED_CARD)
        assert r.status_code == 402, r.text
    # Declined or good, any key: refused before the provider is asked.
    for card in (DECLINED_CARD, GOOD):
        r = await _attempt(client, hold_id, access, card)
        assert r.status_code == 429, r.text
        assert r.json()["error"]["code"] == "rate_limited"
        assert 0 < int(r.headers["retry-after"]) <= 300 + 1
    assert len(provider.charges) == MAX_DECLINES
    # Another process (its own connection and service) sees the same count.
    other = CheckoutService(
        runtime.engine,
        runtime.inventory.store,
        runtime.providers,
        runtime.settings,
        runtime.signer,
    )
    event = await runtime.events.get(event_id)
    (held,) = await runtime.inventory.store.live_holds(event_id)
    with pytest.raises(RateLimited):
        await other.checkout(
            event,
            hold_id,
            held.entry,
            str(uuid.uuid4()),
            {"buyer": BUYER, "payment": {"provider": "test", "card_number": GOOD}},
        )
    assert len(provider.charges) == MAX_DECLINES


async def test_without_the_limit_a_card_tester_goes_on(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    """Negative control: with the limit off, 15 declines and a good card are
    all tried on one hold. (Old code: no limit to switch off, ``TypeError:
    ... unexpected keyword argument 'max_declines'``.)"""
    provider = runtime.providers["test"]
    assert isinstance(provider, TestProvider)
    runtime.checkout = CheckoutService(
        runtime.engine,
        runtime.inventory.store,
        runtime.providers,
        runtime.settings,
        runtime.signer,
        max_declines=0,
    )
    _, hold_id, access = await _scene(client, make_event, admitted)
    for _ in range(15):
        assert (await _attempt(client, hold_id, access, DECLINED_CARD)).status_code == 402
    assert (await _attempt(client, hold_id, access, GOOD)).status_code == 201
    assert len(provider.charges) == 16
