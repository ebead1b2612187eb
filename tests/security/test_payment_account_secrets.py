"""A venue's Stripe secret key and webhook secret are sealed at rest, never
answered, never logged, never in the audit log, and open only for that venue.

Before issue 13 there was no payment account (``PUT
/api/admin/payment-account`` answered 404/405); these are the promises the
new route makes, each checked against what is stored and said.
"""

from __future__ import annotations

import logging

import httpx
import pytest
import sqlalchemy as sa

from onsale.payments.stripe_provider import NotConfigured, StripeProvider
from onsale.runtime import Runtime
from onsale.schema import audit_log, payment_accounts
from tests.conftest import ADMIN_TOKEN, auth
from tests.localstripe import ACCOUNT, SECRET_KEY, WEBHOOK_SECRET

SECRETS = (SECRET_KEY, WEBHOOK_SECRET)


async def test_secrets_are_sealed_never_answered_nor_logged(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = auth(venue["api_key"])
    put = await client.put("/api/admin/payment-account", json=ACCOUNT, headers=key)
    got = await client.get("/api/admin/payment-account", headers=key)
    assert put.json() == got.json()
    assert got.json() == {
        "provider": "stripe",
        "publishable_key": ACCOUNT["publishable_key"],
        "configured": True,
        "webhook_path": f"/api/webhooks/stripe/{venue['id']}",
    }
    async with runtime.engine.connect() as conn:
        stored = (await conn.execute(sa.select(payment_accounts))).one()
        audit = (await conn.execute(sa.select(audit_log))).all()
    assert stored.secret_key_sealed.startswith("sb1.")
    assert [a.action for a in audit][-1] == "payment_account.connect"
    said = " ".join([put.text, got.text, str(tuple(stored)), str(audit), caplog.text])
    for secret in SECRETS:
        assert secret not in said
    # The runtime opens them, for this venue only.
    stripe = runtime.providers["stripe"]
    assert isinstance(stripe, StripeProvider)
    account = await stripe.account(venue["id"])
    assert (account.secret_key, account.webhook_secret) == SECRETS
    assert SECRET_KEY not in repr(account)


async def test_a_sealed_secret_copied_to_another_venue_does_not_open(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str]
) -> None:
    await client.put("/api/admin/payment-account", json=ACCOUNT, headers=auth(venue["api_key"]))
    r = await client.post(
        "/api/admin/venues",
        json={"name": "Autre salle", "slug": "autresalle", "timezone": "Europe/Paris"},
        headers=auth(ADMIN_TOKEN),
    )
    other = r.json()
    async with runtime.engine.begin() as conn:
        row = (await conn.execute(sa.select(payment_accounts))).one()
        await conn.execute(
            payment_accounts.insert().values(
                venue_id=other["id"],
                provider="stripe",
                publishable_key=row.publishable_key,
                secret_key_sealed=row.secret_key_sealed,
                webhook_secret_sealed=row.webhook_secret_sealed,
            )
        )
    stripe = runtime.providers["stripe"]
    assert isinstance(stripe, StripeProvider)
    with pytest.raises(NotConfigured):
        await stripe.account(other["id"])


@pytest.mark.parametrize(
    "change",
    [
        {"provider": "paypal"},
        {"secret_key": "pk_test_wrongkind"},
        {"publishable_key": "pk_live_mixed0000"},
        {"webhook_secret": ""},
        {"secret_key": None},
    ],
)
async def test_a_bad_account_is_422_and_echoes_no_value(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], change: dict[str, str]
) -> None:
    r = await client.put(
        "/api/admin/payment-account", json={**ACCOUNT, **change}, headers=auth(venue["api_key"])
    )
    assert r.status_code == 422, r.text
    for secret in SECRETS:
        assert secret not in r.text
    async with runtime.engine.connect() as conn:
        assert (await conn.execute(sa.select(payment_accounts))).all() == []


async def test_the_account_needs_a_venue_key(client: httpx.AsyncClient) -> None:
    assert (await client.put("/api/admin/payment-account", json=ACCOUNT)).status_code == 401
    assert (await client.get("/api/admin/payment-account")).status_code == 401
