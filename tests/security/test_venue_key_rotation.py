"""Issue 10, item 12: a venue key can be rotated (the old one keeps working for
a grace period), revoked at once, and re-issued by the platform operator.

Before this work the only key a venue had was the one printed when the venue
was created: no route rotated, listed or revoked it (each request below got
404 ``not_found``: no such route), so a leaked key stayed good for ever.
Each test's docstring quotes what the old code answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from onsale.admin import key_repo
from onsale.admin.key_service import KeyService
from onsale.errors import LastKey, Unauthorized
from onsale.runtime import Runtime
from onsale.schema import audit_log, venue_keys
from onsale.settings import Settings
from tests import live_server
from tests.conftest import ADMIN_TOKEN, auth
from tests.integration.api_helpers import error_code
from tests.integration.test_contract import _undocumented, spec_of

DAY = 24 * 3600


async def new_venue(client: httpx.AsyncClient, slug: str) -> dict[str, str]:
    r = await client.post(
        "/api/admin/venues",
        json={"name": f"Venue {slug}", "slug": slug, "timezone": "Europe/Paris"},
        headers=auth(ADMIN_TOKEN),
    )
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


async def works(client: httpx.AsyncClient, key: str) -> int:
    """The status a venue call gets with ``key`` (200: the key works)."""
    return (await client.get("/api/admin/events", headers=auth(key))).status_code


async def rotate(client: httpx.AsyncClient, key: str, body: Any = None) -> httpx.Response:
    return await client.post(
        "/api/admin/venue-keys/rotate",
        headers=auth(key),
        content=b"" if body is None else json.dumps(body).encode(),
    )


async def key_list(client: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    r = await client.get("/api/admin/venue-keys", headers=auth(key))
    assert r.status_code == 200, r.text
    keys: list[dict[str, Any]] = r.json()["keys"]
    return keys


async def test_rotation_gives_a_new_key_and_keeps_the_old_one_for_the_grace(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code: ``POST /api/admin/venue-keys/rotate`` → 404 not_found (no such
    route); the only key could never be replaced."""
    old = venue["api_key"]
    before = datetime.now(UTC)
    r = await rotate(client, old)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) >= {"api_key", "key_id", "previous_expires_at"}
    new = body["api_key"]
    assert new != old and new.startswith("vk_")
    expires = datetime.fromisoformat(body["previous_expires_at"])
    # The default grace: 24 hours.
    assert timedelta(hours=24) <= expires - before <= timedelta(hours=24, minutes=1)
    # Both work now: the new one at once, the old one until its expiry.
    assert await works(client, new) == 200
    assert await works(client, old) == 200
    listed = {k["key_id"]: k for k in await key_list(client, new)}
    assert listed[body["key_id"]]["expires_at"] is None
    assert listed[body["key_id"]]["current"] is True
    (old_entry,) = [k for k in listed.values() if k["key_id"] != body["key_id"]]
    assert old_entry["expires_at"] == body["previous_expires_at"]
    assert old_entry["state"] == "expiring"
    # The list shows a prefix of each key, never a key or its hash.
    text = json.dumps(listed)
    assert new not in text and old not in text
    assert listed[body["key_id"]]["prefix"] == new[:10]


async def test_the_old_key_stops_at_the_end_of_its_grace(
    runtime: Runtime, client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code: no rotation (404), so no grace either; here the service is
    driven with ``now`` (no sleeping): the old key works one second before the
    end of the grace and is refused (401) one second after; the new key goes on."""
    keys = KeyService(runtime.engine)
    t0 = datetime.now(UTC)
    caller = await keys.authenticate(venue["api_key"], now=t0)
    rotated = await keys.rotate(caller, {"grace_seconds": 3600}, now=t0)
    assert rotated["previous_expires_at"] == (t0 + timedelta(hours=1)).isoformat().replace(
        "+00:00", "Z"
    )
    inside = t0 + timedelta(seconds=3599)
    after = t0 + timedelta(seconds=3601)
    assert (await keys.authenticate(venue["api_key"], now=inside)).key_id == caller.key_id
    with pytest.raises(Unauthorized):
        await keys.authenticate(venue["api_key"], now=after)
    assert (await keys.authenticate(rotated["api_key"], now=after)).venue_id == venue["id"]


async def test_a_short_grace_ends_for_real(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code: 404 for the rotation. End to end with the real clock: a grace
    of one second, and after it the old key gets 401 ``token_expired`` (the new
    one 200); a
    grace of 0 stops the old key at once."""
    r = await rotate(client, venue["api_key"], {"grace_seconds": 1})
    assert r.status_code == 201, r.text
    new = r.json()["api_key"]
    assert await works(client, venue["api_key"]) == 200
    await asyncio.sleep(1.1)
    r = await client.get("/api/admin/events", headers=auth(venue["api_key"]))
    assert r.status_code == 401 and error_code(r) == "token_expired", r.text
    assert await works(client, new) == 200
    r = await rotate(client, new, {"grace_seconds": 0})
    assert r.status_code == 201, r.text
    assert await works(client, new) == 401
    assert await works(client, r.json()["api_key"]) == 200


@pytest.mark.parametrize(
    "body",
    [
        {"grace_seconds": -1},
        {"grace_seconds": 7 * DAY + 1},
        {"grace_seconds": "60"},
        {"grace_seconds": True},
        {"grace_seconds": 1.5},
        {"grace": 60},
        [],
    ],
)
async def test_a_bad_grace_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, venue: dict[str, str], body: Any
) -> None:
    """Old code: 404 for any rotation. A grace outside 0..7 days, or not an
    integer, gets 422 (400 for a body that is not an object); no key is made."""
    r = await rotate(client, venue["api_key"], body)
    assert r.status_code in (400, 422), r.text
    assert error_code(r) in ("invalid_request", "validation_error")
    keys = await key_list(client, venue["api_key"])
    assert len(keys) == 1 and keys[0]["expires_at"] is None


async def test_revocation_is_immediate(client: httpx.AsyncClient, venue: dict[str, str]) -> None:
    """Old code: ``DELETE /api/admin/venue-keys/{id}`` → 404 (no such route).
    Here: the old key, still in its grace, is revoked by the new one and is
    refused at once (401) on its next request; revoking again is still 204."""
    old = venue["api_key"]
    r = await rotate(client, old)
    new = r.json()["api_key"]
    old_id = next(k["key_id"] for k in await key_list(client, new) if not k["current"])
    assert await works(client, old) == 200
    r = await client.delete(f"/api/admin/venue-keys/{old_id}", headers=auth(new))
    assert r.status_code == 204, r.text
    r = await client.get("/api/admin/events", headers=auth(old))
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    assert (
        await client.delete(f"/api/admin/venue-keys/{old_id}", headers=auth(new))
    ).status_code == 204
    (entry,) = [k for k in await key_list(client, new) if k["key_id"] == old_id]
    assert entry["state"] == "revoked" and entry["revoked_at"]


async def test_revocation_reaches_every_process_at_once(
    runtime: Runtime, client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code: no revocation at all (404). Two services stand for two
    processes: a key revoked through one is refused by the other on its very
    next lookup. No process caches a key lookup (each reads Postgres), so the
    bound is zero seconds."""
    other_process = KeyService(runtime.engine)
    r = await rotate(client, venue["api_key"])
    new = r.json()["api_key"]
    assert (await other_process.authenticate(venue["api_key"])).venue_id == venue["id"]
    old_id = next(k["key_id"] for k in await key_list(client, new) if not k["current"])
    r = await client.delete(f"/api/admin/venue-keys/{old_id}", headers=auth(new))
    assert r.status_code == 204
    with pytest.raises(Unauthorized):
        await other_process.authenticate(venue["api_key"])


async def test_the_last_working_key_cannot_be_revoked(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code: 404 (no route). A venue may not lock itself out: revoking its
    only permanent key answers 409 ``last_key`` and the key still works. After
    a rotation the new key may revoke itself only while another permanent key
    exists (the platform's re-issue below)."""
    key = venue["api_key"]
    (only,) = await key_list(client, key)
    r = await client.delete(f"/api/admin/venue-keys/{only['key_id']}", headers=auth(key))
    assert r.status_code == 409 and error_code(r) == "last_key", r.text
    assert "last" in r.json()["error"]["message"]
    assert await works(client, key) == 200
    # Rotated with a grace: the new key is the only permanent one left.
    new = (await rotate(client, key)).json()
    r = await client.delete(f"/api/admin/venue-keys/{new['key_id']}", headers=auth(new["api_key"]))
    assert r.status_code == 409 and error_code(r) == "last_key"


async def test_a_retiring_key_cannot_manage_keys(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code: 404 (no route). A key in its grace (the one that was rotated,
    maybe the one that leaked) still does the venue's work until it expires,
    but may neither rotate again (which would give its holder a permanent key)
    nor revoke the new key: 403 ``forbidden``."""
    old = venue["api_key"]
    new = (await rotate(client, old)).json()
    r = await rotate(client, old)
    assert r.status_code == 403 and error_code(r) == "forbidden", r.text
    r = await client.delete(f"/api/admin/venue-keys/{new['key_id']}", headers=auth(old))
    assert r.status_code == 403 and error_code(r) == "forbidden", r.text
    assert await works(client, new["api_key"]) == 200
    assert len(await key_list(client, new["api_key"])) == 2


async def test_another_venue_cannot_see_or_revoke_my_keys(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code: 404 for every key route, whoever asked. Now another venue's
    key gets 404 ``not_found`` for my key's id (as for an unknown id), my key
    still works, and its list shows only its own keys."""
    other = await new_venue(client, "othervenue")
    (mine,) = await key_list(client, venue["api_key"])
    for key_id in (mine["key_id"], "key_nope", "x" * 65):
        r = await client.delete(f"/api/admin/venue-keys/{key_id}", headers=auth(other["api_key"]))
        assert r.status_code == 404 and error_code(r) == "not_found", r.text
    assert await works(client, venue["api_key"]) == 200
    theirs = await key_list(client, other["api_key"])
    assert [k["key_id"] for k in theirs] != [mine["key_id"]] and len(theirs) == 1


async def test_key_routes_need_a_working_key(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code: 404 for the routes (no route). Without a key, with a forged
    one or with the platform token, the venue's key routes answer 401."""
    for headers in ({}, auth("vk_forged"), auth(ADMIN_TOKEN)):
        assert (await client.get("/api/admin/venue-keys", headers=headers)).status_code == 401
        r = await client.post("/api/admin/venue-keys/rotate", headers=headers)
        assert r.status_code == 401
        r = await client.delete("/api/admin/venue-keys/key_x", headers=headers)
        assert r.status_code == 401


async def test_the_platform_reissues_a_key_and_revokes_the_others(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code: ``POST /api/admin/venues/{id}/keys`` → 404 not_found
    (no such route): a venue that lost its key, or whose key leaked, could not
    get another. Now the platform token issues one; with ``revoke_others``
    every other key of the venue (here the leaked one and a rotated one in
    its grace) stops at once."""
    leaked = venue["api_key"]
    rotated = (await rotate(client, leaked)).json()["api_key"]
    path = f"/api/admin/venues/{venue['id']}/keys"
    # A venue key is not the platform token.
    r = await client.post(path, headers=auth(rotated), json={"revoke_others": True})
    assert r.status_code == 401
    r = await client.post(path, headers=auth(ADMIN_TOKEN), json={"revoke_others": True})
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["venue_id"] == venue["id"] and issued["api_key"].startswith("vk_")
    assert sorted(issued["revoked"]) and len(issued["revoked"]) == 2
    assert await works(client, leaked) == 401
    assert await works(client, rotated) == 401
    assert await works(client, issued["api_key"]) == 200
    # Without revoke_others the venue keeps its keys and gains one.
    r = await client.post(path, headers=auth(ADMIN_TOKEN))
    assert r.status_code == 201 and r.json()["revoked"] == []
    assert await works(client, issued["api_key"]) == 200
    # Unknown venue, bad body.
    r = await client.post("/api/admin/venues/ven_nope/keys", headers=auth(ADMIN_TOKEN))
    assert r.status_code == 404 and error_code(r) == "not_found"
    r = await client.post(path, headers=auth(ADMIN_TOKEN), json={"revoke_others": "yes"})
    assert r.status_code == 422 and error_code(r) == "validation_error"


async def test_audit_rows_without_secrets(
    runtime: Runtime, client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code: no key changes, so no audit rows for them (the routes were
    404/405). Rotation, revocation and the platform's re-issue each write one
    row naming the keys by id; no row holds a key, its prefix or its hash."""
    old = venue["api_key"]
    rotated = (await rotate(client, old, {"grace_seconds": 60})).json()
    old_id = next(
        k["key_id"] for k in await key_list(client, rotated["api_key"]) if not k["current"]
    )
    r = await client.delete(f"/api/admin/venue-keys/{old_id}", headers=auth(rotated["api_key"]))
    assert r.status_code == 204
    r = await client.post(
        f"/api/admin/venues/{venue['id']}/keys",
        headers=auth(ADMIN_TOKEN),
        json={"revoke_others": True},
    )
    reissued = r.json()
    async with runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.action.like("venue_key.%"))
                .order_by(audit_log.c.id)
            )
        ).all()
        hashes = (await conn.execute(sa.select(venue_keys.c.key_hash))).scalars().all()
    assert [(r.action, r.actor, r.target) for r in rows] == [
        # Issue 15: the actor is the key that acted (its id, never the key).
        ("venue_key.rotate", f"key:{old_id}", rotated["key_id"]),
        ("venue_key.revoke", f"key:{rotated['key_id']}", old_id),
        ("venue_key.reissue", "platform", reissued["key_id"]),
    ]
    assert rows[0].details["previous_key_id"] == old_id
    assert rows[0].details["grace_seconds"] == 60
    assert rows[1].details["by_key_id"] == rotated["key_id"]
    assert sorted(rows[2].details["revoked"]) == sorted(reissued["revoked"])
    text = json.dumps([[str(v) for v in r] for r in rows])
    for secret in (old, rotated["api_key"], reissued["api_key"], *hashes):
        assert secret not in text and secret[3:13] not in text


async def test_keys_are_stored_hashed(
    runtime: Runtime, client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code already stored SHA-256 of the key (kept: the key is 256 random
    bits, so a fast unsalted hash cannot be searched). Rotated and re-issued
    keys are stored the same way: no column holds the key."""
    rotated = (await rotate(client, venue["api_key"])).json()["api_key"]
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(sa.select(venue_keys))).all()
    text = json.dumps([[str(v) for v in r] for r in rows])
    assert venue["api_key"] not in text and rotated not in text
    assert len(rows) == 2


async def test_key_answers_match_the_openapi_schemas(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code: /openapi.json named none of these routes. Each answer uses
    only fields its schema documents."""
    spec = await spec_of(client)
    rotated = (await rotate(client, venue["api_key"])).json()
    listed = (await client.get("/api/admin/venue-keys", headers=auth(rotated["api_key"]))).json()
    issued = (
        await client.post(f"/api/admin/venues/{venue['id']}/keys", headers=auth(ADMIN_TOKEN))
    ).json()
    answers = {"KeyRotated": rotated, "VenueKeys": listed, "KeyIssued": issued}
    assert {
        n: _undocumented(spec, n, b) for n, b in answers.items() if _undocumented(spec, n, b)
    } == {}
    paths = spec["paths"]
    assert "post" in paths["/api/admin/venue-keys/rotate"]
    assert "get" in paths["/api/admin/venue-keys"]
    assert "delete" in paths["/api/admin/venue-keys/{key_id}"]
    assert "post" in paths["/api/admin/venues/{venue_id}/keys"]


async def _two_keys_revoking_each_other(runtime: Runtime, venue_id: str, serialize: bool) -> int:
    """Give the venue exactly two permanent keys, then have each revoke the
    other at the same moment: how many working keys are left."""
    keys = KeyService(runtime.engine, serialize=serialize)
    a = await keys.authenticate((await keys.reissue(venue_id, {"revoke_others": True}))["api_key"])
    b = await keys.authenticate((await keys.reissue(venue_id, {}))["api_key"])
    outcomes = await asyncio.gather(
        keys.revoke(a, b.key_id), keys.revoke(b, a.key_id), return_exceptions=True
    )
    for outcome in outcomes:
        # Revoked, or refused: its own key was revoked first (401) or it was
        # the last one (409). Nothing else (no deadlock, no 500).
        assert outcome is True or isinstance(outcome, (Unauthorized, LastKey)), outcome
    now = datetime.now(UTC)
    return sum(1 for k in await key_repo.list_keys(runtime.engine, venue_id) if k.works(now))


async def test_two_keys_revoking_each_other_leave_one(
    runtime: Runtime, venue: dict[str, str]
) -> None:
    """Old code: no revocation (404). Two keys revoking each other at once race
    on the check "another permanent key is left". Without the venue's row
    lock (``serialize=False``, the negative control) both pass and the venue
    is left with no working key; with it the second revocation finds its own
    key revoked (401) and one key is left, every time."""
    unlocked = []
    for _ in range(20):  # the race is usually lost at once; stop when it is
        unlocked.append(await _two_keys_revoking_each_other(runtime, venue["id"], False))
        if unlocked[-1] == 0:
            break
    assert 0 in unlocked, unlocked
    locked = [await _two_keys_revoking_each_other(runtime, venue["id"], True) for _ in range(5)]
    assert locked == [1] * 5


async def test_last_used_is_written_at_most_once_a_minute(
    runtime: Runtime, venue: dict[str, str]
) -> None:
    """Old code: no ``last_used_at`` at all. A key used on every request
    writes its row at most once a minute, not on every request."""
    keys = KeyService(runtime.engine)
    t0 = datetime.now(UTC)

    async def last_used() -> datetime | None:
        (row,) = await key_repo.list_keys(runtime.engine, venue["id"])
        return row.last_used_at

    await keys.authenticate(venue["api_key"], now=t0)
    assert await last_used() == t0
    for seconds in (1, 30, 59):
        await keys.authenticate(venue["api_key"], now=t0 + timedelta(seconds=seconds))
        assert await last_used() == t0
    await keys.authenticate(venue["api_key"], now=t0 + timedelta(seconds=61))
    assert await last_used() == t0 + timedelta(seconds=61)


async def test_a_key_stored_by_the_old_code_keeps_working(
    runtime: Runtime, client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code stored only ``id, venue_id, key_hash`` (SHA-256). Such a row,
    written as the old code wrote it, still signs in after migration 0006, is
    listed without a prefix (none is known), and can be rotated and revoked."""
    legacy = "vk_" + "L" * 43
    async with runtime.engine.begin() as conn:
        await conn.execute(
            venue_keys.insert().values(
                id="key_legacy",
                venue_id=venue["id"],
                key_hash=hashlib.sha256(legacy.encode()).hexdigest(),
            )
        )
    assert await works(client, legacy) == 200
    (entry,) = [k for k in await key_list(client, legacy) if k["key_id"] == "key_legacy"]
    assert entry["prefix"] is None and entry["state"] == "active" and entry["current"]
    rotated = (await rotate(client, legacy, {"grace_seconds": 0})).json()
    assert await works(client, legacy) == 401
    assert await works(client, rotated["api_key"]) == 200


def test_two_server_processes_refuse_a_revoked_key_at_once(settings: Settings) -> None:
    """Old code: no revocation (404). Two real ``onsale serve`` processes: a
    key revoked through the first is refused by the second on the very next
    request, with no wait (no process caches key look-ups)."""
    with live_server.running(settings, count=2) as (one, two), httpx.Client(timeout=10) as http:
        r = http.post(
            f"{one.url}/api/admin/venues",
            json={"name": "Two", "slug": f"two-{uuid.uuid4().hex[:10]}", "timezone": "UTC"},
            headers=auth(ADMIN_TOKEN),
        )
        old = r.json()["api_key"]
        new = http.post(f"{one.url}/api/admin/venue-keys/rotate", headers=auth(old)).json()
        assert http.get(f"{two.url}/api/admin/events", headers=auth(old)).status_code == 200
        keys = http.get(f"{two.url}/api/admin/venue-keys", headers=auth(new["api_key"])).json()
        old_id = next(k["key_id"] for k in keys["keys"] if not k["current"])
        r = http.delete(f"{one.url}/api/admin/venue-keys/{old_id}", headers=auth(new["api_key"]))
        assert r.status_code == 204
        assert http.get(f"{two.url}/api/admin/events", headers=auth(old)).status_code == 401
        assert (
            http.get(f"{two.url}/api/admin/events", headers=auth(new["api_key"])).status_code == 200
        )


async def test_hostile_requests_get_a_clear_4xx_and_change_nothing(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """Old code: 404 for every one of these routes. Bodies that are not JSON,
    too large, or not objects, and key ids no key can have, are refused with
    a 4xx error body (never a 500) and no key is made or revoked."""
    key = auth(venue["api_key"])
    platform = auth(ADMIN_TOKEN)
    reissue = f"/api/admin/venues/{venue['id']}/keys"
    big = b'{"grace_seconds": 1, "x": "' + b"a" * 70_000 + b'"}'
    cases = [
        ("POST", "/api/admin/venue-keys/rotate", key, b"{not json", 400),
        ("POST", "/api/admin/venue-keys/rotate", key, b"null", 400),
        ("POST", "/api/admin/venue-keys/rotate", key, big, 413),
        ("POST", "/api/admin/venue-keys/rotate", key, b'{"grace_seconds": 1e400}', 422),
        ("POST", reissue, platform, b"[true]", 400),
        ("POST", reissue, platform, b'{"revoke_others": true, "a\\u0000": 1}', 400),
        ("POST", reissue, platform, big, 413),
        ("DELETE", "/api/admin/venue-keys/%00", key, b"", 404),
        ("DELETE", "/api/admin/venue-keys/" + "é" * 40, key, b"", 404),
        ("DELETE", "/api/admin/venue-keys/rotate", key, b"", 404),
        ("POST", "/api/admin/venues/%00/keys", platform, b"", 404),
    ]
    for method, path, headers, body, status in cases:
        r = await client.request(method, path, headers=headers, content=body)
        assert r.status_code == status, (path, body[:40], r.text)
        assert error_code(r)
    keys = await key_list(client, venue["api_key"])
    assert len(keys) == 1 and keys[0]["state"] == "active"
