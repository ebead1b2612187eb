"""Venue keys in Postgres: look-up by hash, rotation, revocation, the
platform's re-issue, each change with its audit row (never a key or a hash in
it).

Every change takes the venue's row lock first (``FOR UPDATE`` on ``venues``),
so two changes of one venue's keys run one after the other: two keys revoking
each other at the same moment cannot both pass the "another key is left"
check and leave the venue without any key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale.admin.key_policy import (
    TOUCH_EVERY,
    StoredKey,
    hash_key,
    iso,
    new_key,
    prefix_of,
)
from onsale.audit import Actor, audit, new_id
from onsale.errors import Forbidden, LastKey, NotFound, Unauthorized
from onsale.monitoring import timing
from onsale.schema import venue_keys, venues

_COLUMNS = (
    venue_keys.c.id,
    venue_keys.c.venue_id,
    venue_keys.c.prefix,
    venue_keys.c.created_at,
    venue_keys.c.expires_at,
    venue_keys.c.revoked_at,
    venue_keys.c.last_used_at,
    venue_keys.c.role,
    venue_keys.c.staff_id,
    venue_keys.c.staff_email,
)


def _stored(row: Any) -> StoredKey:
    return StoredKey(
        key_id=row.id,
        venue_id=row.venue_id,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        role=row.role,
        staff_id=row.staff_id,
        staff_email=row.staff_email,
        venue_suspended=getattr(row, "suspended_at", None) is not None,
    )


async def insert_key(
    conn: AsyncConnection,
    venue_id: str,
    now: datetime | None = None,
    *,
    role: str = "manager",
    staff_id: str | None = None,
    staff_email: str | None = None,
) -> tuple[str, str]:
    """(key id, key): a new permanent key of the venue, stored hashed; with
    ``staff_id`` a staff member's key acting with ``role``."""
    key = new_key()
    key_id = new_id("key")
    values: dict[str, Any] = {
        "id": key_id,
        "venue_id": venue_id,
        "key_hash": hash_key(key),
        "prefix": prefix_of(key),
        "role": role,
        "staff_id": staff_id,
        "staff_email": staff_email,
    }
    if now is not None:
        values["created_at"] = now
    await conn.execute(venue_keys.insert().values(**values))
    return key_id, key


@timing.postgres
async def find(engine: AsyncEngine, key: str) -> StoredKey | None:
    """The key's row, whatever its state (the caller decides if it works),
    with whether its venue is suspended (the same indexed read)."""
    query = (
        sa.select(*_COLUMNS, venues.c.suspended_at)
        .join(venues, venues.c.id == venue_keys.c.venue_id)
        .where(venue_keys.c.key_hash == hash_key(key))
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).one_or_none()
    return None if row is None else _stored(row)


@timing.postgres
async def touch(engine: AsyncEngine, key_id: str, now: datetime) -> None:
    """Note the key's use; skipped when another request (of any process) did
    within TOUCH_EVERY, so a busy key costs one write a minute."""
    async with engine.begin() as conn:
        await conn.execute(
            venue_keys.update()
            .where(
                venue_keys.c.id == key_id,
                sa.or_(
                    venue_keys.c.last_used_at.is_(None),
                    venue_keys.c.last_used_at <= now - TOUCH_EVERY,
                ),
            )
            .values(last_used_at=now)
        )


@timing.postgres
async def list_keys(engine: AsyncEngine, venue_id: str) -> list[StoredKey]:
    """The venue's keys, newest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(*_COLUMNS)
            .where(venue_keys.c.venue_id == venue_id)
            .order_by(venue_keys.c.created_at.desc(), venue_keys.c.id)
        )
        return [_stored(r) for r in rows]


async def _lock_venue(conn: AsyncConnection, venue_id: str, lock: bool) -> bool:
    """Whether the venue exists; its row locked until the transaction ends
    (``lock=False``: no lock, the negative control of the tests)."""
    query = sa.select(venues.c.id).where(venues.c.id == venue_id)
    found = await conn.execute(query.with_for_update() if lock else query)
    return found.scalar_one_or_none() is not None


async def _venue_keys(conn: AsyncConnection, venue_id: str) -> list[StoredKey]:
    rows = await conn.execute(sa.select(*_COLUMNS).where(venue_keys.c.venue_id == venue_id))
    return [_stored(r) for r in rows]


def other_manager_left(keys: list[StoredKey], leaving: set[str], now: datetime) -> bool:
    """Whether a permanent manager key outside ``leaving`` is left: a venue
    may not lock itself out of its own management."""
    return any(k.permanent(now) and k.role == "manager" for k in keys if k.key_id not in leaving)


async def venue_keys_locked(conn: AsyncConnection, venue_id: str, lock: bool) -> list[StoredKey]:
    """The venue's keys, its row locked first (see the module's docstring)."""
    await _lock_venue(conn, venue_id, lock)
    return await _venue_keys(conn, venue_id)


def _manager(keys: list[StoredKey], caller_id: str, now: datetime) -> StoredKey:
    """The caller's key as it is now, if it may manage keys.

    Raises Unauthorized when it stopped working (revoked or expired since the
    request was authenticated) and Forbidden when it is in its grace: a key
    being retired (perhaps the one that leaked) may not make itself a
    permanent successor nor revoke the one that replaces it.
    """
    caller = next((k for k in keys if k.key_id == caller_id), None)
    if caller is None or not caller.works(now):
        raise Unauthorized("Unknown or revoked venue key")
    if not caller.permanent(now):
        raise Forbidden("This key is being retired after a rotation: manage keys with the new key")
    return caller


@timing.postgres
async def rotate(
    engine: AsyncEngine,
    venue_id: str,
    caller_id: str,
    grace: timedelta,
    now: datetime,
    *,
    lock: bool,
    actor: Actor | None = None,
) -> dict[str, Any]:
    """A new permanent key; the caller's key then works until ``now + grace``.
    A staff member's new key keeps their role and staff id.

    Raises Unauthorized / Forbidden (see :func:`_manager`).
    """
    async with engine.begin() as conn:
        await _lock_venue(conn, venue_id, lock)
        caller = _manager(await _venue_keys(conn, venue_id), caller_id, now)
        expires_at = now + grace
        await conn.execute(
            venue_keys.update().where(venue_keys.c.id == caller_id).values(expires_at=expires_at)
        )
        key_id, key = await insert_key(
            conn,
            venue_id,
            now,
            role=caller.role,
            staff_id=caller.staff_id,
            staff_email=caller.staff_email,
        )
        await audit(
            conn,
            venue_id=venue_id,
            actor=actor or Actor(f"key:{caller_id}", caller.role),
            action="venue_key.rotate",
            target=key_id,
            details={
                "previous_key_id": caller_id,
                "previous_expires_at": iso(expires_at),
                "grace_seconds": int(grace.total_seconds()),
            },
        )
    return {
        "api_key": key,
        "key_id": key_id,
        "prefix": prefix_of(key),
        "previous_key_id": caller_id,
        "previous_expires_at": iso(expires_at),
    }


@timing.postgres
async def revoke(
    engine: AsyncEngine,
    venue_id: str,
    caller_id: str,
    key_id: str,
    now: datetime,
    *,
    lock: bool,
    actor: Actor | None = None,
) -> bool:
    """Revoke the venue's key ``key_id`` at once; False if it already was.

    Raises NotFound (not this venue's key), Unauthorized / Forbidden (see
    :func:`_manager`) and LastKey when no other permanent key would be left.
    """
    async with engine.begin() as conn:
        await _lock_venue(conn, venue_id, lock)
        keys = await _venue_keys(conn, venue_id)
        caller = _manager(keys, caller_id, now)
        target = next((k for k in keys if k.key_id == key_id), None)
        if target is None:
            raise NotFound("No such key")
        if target.revoked_at is not None:
            return False
        if not other_manager_left(keys, {key_id}, now):
            raise LastKey(
                "This is the venue's last working key: rotate it first, or ask the "
                "platform operator to issue a new one",
                key_id=key_id,
            )
        await conn.execute(
            venue_keys.update().where(venue_keys.c.id == key_id).values(revoked_at=now)
        )
        await audit(
            conn,
            venue_id=venue_id,
            actor=actor or Actor(f"key:{caller_id}", caller.role),
            action="venue_key.revoke",
            target=key_id,
            details={"by_key_id": caller_id},
        )
    return True


@timing.postgres
async def reissue(
    engine: AsyncEngine, venue_id: str, revoke_others: bool, now: datetime, *, lock: bool
) -> dict[str, Any]:
    """The platform's new key for the venue; with ``revoke_others`` every other
    key of the venue that still works is revoked in the same transaction.

    Raises NotFound for an unknown venue.
    """
    async with engine.begin() as conn:
        if not await _lock_venue(conn, venue_id, lock):
            raise NotFound("No such venue")
        revoked: list[str] = []
        if revoke_others:
            revoked = [k.key_id for k in await _venue_keys(conn, venue_id) if k.works(now)]
            await conn.execute(
                venue_keys.update().where(venue_keys.c.id.in_(revoked)).values(revoked_at=now)
            )
        key_id, key = await insert_key(conn, venue_id, now)
        await audit(
            conn,
            venue_id=venue_id,
            actor="platform",
            action="venue_key.reissue",
            target=key_id,
            details={"revoked": sorted(revoked)},
        )
    return {
        "api_key": key,
        "key_id": key_id,
        "prefix": prefix_of(key),
        "venue_id": venue_id,
        "revoked": sorted(revoked),
    }
