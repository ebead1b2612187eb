"""At the box office, cash and the venue's own card terminal are always
accepted (whatever ONSALE_TEST_PAYMENTS says), recorded as paid with their
reference; Stripe is not a counter payment."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from onsale.checkout.policy import Card, parse_boxoffice
from onsale.errors import ValidationFailed
from onsale.runtime import Runtime
from onsale.schema import payments
from tests.conftest import MakeEvent, auth

BUYER = {"email": "guichet@example.org", "name": "Sacha"}


def test_the_terminal_and_cash_need_no_test_provider() -> None:
    terminal = {"buyer": BUYER, "payment": {"provider": "terminal", "reference": "T-0042"}}
    assert parse_boxoffice(terminal, accepted=())[1] == Card("terminal", "", "T-0042")
    cash = {"buyer": BUYER, "payment": {"provider": "cash"}}
    assert parse_boxoffice(cash, accepted=())[1] == Card("cash", "")


@pytest.mark.parametrize("reference", [None, "", "x" * 65, "T 42", "<b>", 42])
def test_a_terminal_needs_a_reference(reference: Any) -> None:
    body = {"buyer": BUYER, "payment": {"provider": "terminal", "reference": reference}}
    with pytest.raises(ValidationFailed) as info:
        parse_boxoffice(body, accepted=())
    assert set(info.value.details["fields"]) == {"payment.reference"}


def test_stripe_is_not_a_counter_payment() -> None:
    body = {"buyer": BUYER, "payment": {"provider": "stripe", "payment_id": "pi_123"}}
    with pytest.raises(ValidationFailed) as info:
        parse_boxoffice(body, accepted=("test", "stripe"))
    assert info.value.details["fields"]["payment.provider"] == "one of: cash, terminal, test"


async def test_a_terminal_sale_is_recorded_with_its_reference(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    r = await client.post(
        f"/api/admin/events/{event['id']}/boxoffice",
        json={
            "section": "FLOOR",
            "quantity": 2,
            "buyer": BUYER,
            "payment": {"provider": "terminal", "reference": "T-0042"},
        },
        headers=auth(venue["api_key"]),
    )
    assert r.status_code == 201, r.text
    async with runtime.engine.connect() as conn:
        row = (await conn.execute(sa.select(payments))).one()
    assert (row.provider, row.provider_ref, row.status, row.amount_cents) == (
        "terminal",
        "terminal:T-0042",
        "captured",
        5200,
    )
    assert row.order_id == r.json()["order_id"]
