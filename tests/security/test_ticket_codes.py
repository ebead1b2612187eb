"""Ticket codes and the door keys as security items.

On the old code (main at b357a6b) a ticket's code was ``secrets.token_urlsafe(12)``
(``checkout.repo.ticket_code``) and nothing checked it: any string of that
shape looked as good as a real one to someone without the database, and the
"show these codes at the door" promise had no door behind it. Now a code is
signed with its venue's Ed25519 key; these tests show what it refuses.
"""

from __future__ import annotations

import logging
import secrets

import httpx
import pytest
import sqlalchemy as sa

from onsale.runtime import Runtime, mail_worker
from onsale.schema import ticket_keys
from onsale.secretbox import SealedValueError, SecretBox
from onsale.settings import Secret
from onsale.tickets import codes, keys
from tests.conftest import ADMIN_TOKEN, MakeEvent, auth
from tests.tickets.test_door import door_key, scan
from tests.tickets.test_numbering import sell


async def test_another_venues_ticket_and_old_style_codes_are_invalid(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    key = await door_key(client, venue, event["id"])
    r = await client.post(
        "/api/admin/venues",
        json={"name": "Elsewhere", "slug": "elsewhere", "timezone": "Europe/Paris"},
        headers=auth(ADMIN_TOKEN),
    )
    other = r.json()
    from tests.conftest import event_body

    r = await client.post("/api/admin/events", json=event_body(), headers=auth(other["api_key"]))
    theirs = (await sell(client, other["api_key"], r.json()["id"], 1))["tickets"][0]
    # Another venue's ticket: signed, but not with this venue's key.
    assert (await scan(client, key, theirs["code"]))["result"] == "invalid"
    # The same ticket id under this event's id, with their signature: still invalid.
    _, ticket_id, sig = theirs["code"].split(".")
    assert (await scan(client, key, f"{event['id']}.{ticket_id}.{sig}"))["result"] == "invalid"
    # The old codes' shape.
    assert (await scan(client, key, secrets.token_urlsafe(12)))["result"] == "invalid"


async def test_the_signing_key_is_sealed_at_rest(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    code = (await sell(client, venue["api_key"], event["id"], 1))["tickets"][0]["code"]
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(sa.select(ticket_keys).where(ticket_keys.c.venue_id == venue["id"]))
        ).one()
    assert row.private_sealed.startswith("sb1.")
    # The public key checks the code; the sealed value opens only for its venue.
    assert codes.verify([codes.unb64(row.public_key)], code) is not None
    box = SecretBox(runtime.signer.derive(b"onsale secretbox v1"))
    assert len(box.open(row.private_sealed, keys.context(venue["id"]))) == 32
    with pytest.raises(SealedValueError):
        box.open(row.private_sealed, keys.context("v_other"))


async def test_mail_failures_log_no_address(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = await make_event()
    await sell(client, venue["api_key"], event["id"], 1)
    # A mail server that is not there (a closed port).
    settings = runtime.settings.with_overrides(
        smtp_url=Secret("smtp://fan%40example.org:pw@127.0.0.1:9")
    )
    with caplog.at_level(logging.DEBUG):
        assert await mail_worker(settings, runtime.engine, runtime.signer).run_once() == 0
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert "example.org" not in text and ":pw@" not in text


async def test_a_door_key_scans_only_its_event_and_reads_nothing_else(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event, other = await make_event(), await make_event()
    key = await door_key(client, venue, event["id"])
    code = (await sell(client, venue["api_key"], other["id"], 1))["tickets"][0]["code"]
    assert (await scan(client, key, code))["result"] == "wrong_event"
    for path in (f"/api/admin/events/{event['id']}/orders", "/api/admin/events"):
        assert (await client.get(path, headers=auth(key))).status_code == 401
    # Its bundle holds no buyer data: ids, a public key.
    bundle = (await client.get("/api/door/bundle", headers=auth(key))).json()
    assert "@" not in str(bundle)
