"""Issue 10, item 5: card numbers recoverable from the idempotency table.

Old code: ``request_hash`` was plain SHA-256 of the whole checkout body, card
number included, stored beside the card's last four digits, so a loop over
the unknown digits found the number offline:
``AssertionError: assert '4242424242424242' is None`` (the brute force below
recovered the test card from the stored hash in well under a second).

Now the hash is an HMAC under a key derived from the server's secret, of a
canonical body in which the card number is replaced by its own keyed
fingerprint: without the server key nothing can be tried offline.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from onsale import db
from onsale.checkout import policy
from onsale.runtime import Runtime
from onsale.settings import Settings
from tests.conftest import Admit, MakeEvent, auth

BUYER = {"email": "fan@example.org", "name": "Camille"}
NUMBER = "4242424242424242"


def _sha256(scope: str, body: Any) -> str:
    canonical = json.dumps({"scope": scope, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _brute_force(scope: str, stored: str, prefix: str, last4: str) -> str | None:
    """What an attacker with a database dump tries: the BIN is public, the
    last four digits are stored; loop over the middle digits that pass Luhn."""
    for middle in range(10**6):
        number = f"{prefix}{middle:06d}{last4}"
        if not policy.luhn_valid(number):
            continue
        body = {"buyer": BUYER, "payment": {"provider": "test", "card_number": number}}
        if _sha256(scope, body) == stored:
            return number
    return None


async def _hold(client: httpx.AsyncClient, event_id: str, access: str) -> str:
    r = await client.post(
        f"/api/events/{event_id}/holds",
        json={"section": "FLOOR", "quantity": 1},
        headers=auth(access),
    )
    assert r.status_code == 201, r.text
    hold_id: str = r.json()["hold_id"]
    return hold_id


async def _checkout(
    client: httpx.AsyncClient, hold_id: str, access: str, card: str, key: str
) -> httpx.Response:
    return await client.post(
        f"/api/holds/{hold_id}/checkout",
        json={"buyer": BUYER, "payment": {"provider": "test", "card_number": card}},
        headers={**auth(access), "Idempotency-Key": key},
    )


async def test_the_stored_hash_does_not_give_the_card_away(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    access = await admitted(event["id"])
    hold_id = await _hold(client, event["id"], access)
    r = await _checkout(client, hold_id, access, NUMBER, str(uuid.uuid4()))
    assert r.status_code == 201, r.text
    async with runtime.engine.connect() as conn:
        scope, stored = (
            await conn.execute(sa.text("SELECT scope, request_hash FROM idempotency"))
        ).one()
        last4 = (await conn.execute(sa.text("SELECT card_last4 FROM payments"))).scalar_one()
    assert last4 == NUMBER[-4:]
    assert _brute_force(scope, stored, NUMBER[:6], last4) is None
    # The hash depends on the server's secret: another key, another hash.
    body = {"buyer": BUYER, "payment": {"provider": "test", "card_number": NUMBER}}
    assert policy.request_hash(b"k1", scope, body) != policy.request_hash(b"k2", scope, body)
    assert NUMBER not in json.dumps(policy.canonical_request(b"k1", scope, body))


async def test_same_key_other_card_is_another_request(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    """The card's keyed fingerprint is part of the request: the same key with
    another card is refused (409 idempotency_conflict, API.md: same key, other
    body), and the same card spelt with spaces is the same request.

    Old code: the spaced spelling was another body:
    ``AssertionError: {"error":{"code":"idempotency_conflict",...}}``."""
    event = await make_event()
    access = await admitted(event["id"])
    key = str(uuid.uuid4())
    hold_id = await _hold(client, event["id"], access)
    first = await _checkout(client, hold_id, access, NUMBER, key)
    assert first.status_code == 201, first.text
    spaced = await _checkout(client, hold_id, access, "4242 4242 4242 4242", key)
    assert spaced.status_code == 200, spaced.text
    assert spaced.json() == first.json()
    other = await _checkout(client, hold_id, access, "5555555555554444", key)
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_conflict"


def _replay_migration(url: str) -> None:
    """Run the revision that clears the hashes once more, alone, wherever the
    chain puts it (stamp the one before, upgrade to it, stamp the heads)."""
    config = db._alembic_config(url)
    script = ScriptDirectory.from_config(config)
    (mine,) = [r for r in script.walk_revisions() if r.path.endswith("_idempotency_hashes.py")]
    assert isinstance(mine.down_revision, str)
    command.stamp(config, mine.down_revision, purge=True)
    command.upgrade(config, mine.revision)
    command.stamp(config, "heads", purge=True)


async def test_migration_0008_clears_the_old_plain_hashes(
    client: httpx.AsyncClient,
    runtime: Runtime,
    settings: Settings,
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    """Rows written before keyed hashing lose their plain hash at upgrade, and
    a late retry with their key still gets their answer.

    Old code: no such migration (``ValueError: not enough values to unpack``
    looking for it); the plain hash stayed (upgrading to head left
    ``'2b2721ef...'`` in place of ``''``)."""
    event = await make_event()
    access = await admitted(event["id"])
    scope, key = "checkout:hold_from_before", "legacy-key-0001"
    body = {"buyer": BUYER, "payment": {"provider": "test", "card_number": NUMBER}}
    answer = {"order_id": "ord_from_before", "status": "paid"}
    async with runtime.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO idempotency (scope, key, request_hash, state, status_code, response)"
                " VALUES (:scope, :key, :hash, 'done', 201, CAST(:answer AS jsonb))"
            ),
            {
                "scope": scope,
                "key": key,
                "hash": _sha256(scope, body),
                "answer": json.dumps(answer),
            },
        )
    assert settings.database_url
    await asyncio.to_thread(_replay_migration, settings.database_url)
    async with runtime.engine.connect() as conn:
        stored = (
            await conn.execute(
                sa.text("SELECT request_hash FROM idempotency WHERE key = :key"), {"key": key}
            )
        ).scalar_one()
    assert stored == ""
    r = await client.post(
        "/api/holds/hold_from_before/checkout",
        json=body,
        headers={**auth(access), "Idempotency-Key": key},
    )
    assert r.status_code == 200 and r.json() == answer, r.text
