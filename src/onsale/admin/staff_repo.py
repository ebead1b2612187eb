"""Staff in Postgres. A staff member is one or more rows of ``venue_keys``
sharing a ``staff_id`` (a rotation adds a row): the same key check, the same
rotation and revocation as every venue key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.admin.key_policy import iso
from onsale.admin.key_repo import insert_key, other_manager_left, venue_keys_locked
from onsale.admin.roles import Role
from onsale.audit import Actor, audit, new_id
from onsale.errors import LastKey, NotFound
from onsale.monitoring import timing
from onsale.schema import venue_keys


@timing.postgres
async def create_staff(
    engine: AsyncEngine, venue_id: str, email: str, role: Role, actor: Actor
) -> dict[str, str]:
    """A new staff member and their key (returned once, stored hashed)."""
    staff_id = new_id("stf")
    async with engine.begin() as conn:
        key_id, key = await insert_key(
            conn, venue_id, role=role.value, staff_id=staff_id, staff_email=email
        )
        # The staff member's address is theirs, not a buyer's: it may be in
        # the log (who was given access), but it is left out all the same.
        await audit(
            conn,
            venue_id=venue_id,
            actor=actor,
            action="staff.create",
            target=staff_id,
            details={"role": role.value, "key_id": key_id},
        )
    return {"staff_id": staff_id, "api_key": key, "role": role.value, "email": email}


@timing.postgres
async def list_staff(engine: AsyncEngine, venue_id: str, now: datetime) -> list[dict[str, Any]]:
    """The venue's staff, newest first, each with whether a key of theirs works."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(venue_keys)
                .where(venue_keys.c.venue_id == venue_id, venue_keys.c.staff_id.is_not(None))
                .order_by(venue_keys.c.created_at)
            )
        ).all()
    people: dict[str, dict[str, Any]] = {}
    for r in rows:
        person = people.setdefault(
            r.staff_id,
            {
                "staff_id": r.staff_id,
                "email": r.staff_email,
                "role": r.role,
                "created_at": iso(r.created_at),
                "active": False,
                "last_used_at": None,
            },
        )
        working = r.revoked_at is None and (r.expires_at is None or now < r.expires_at)
        person["active"] = person["active"] or working
        if r.last_used_at is not None:
            person["last_used_at"] = iso(r.last_used_at)
    return sorted(people.values(), key=lambda p: p["created_at"], reverse=True)


@timing.postgres
async def revoke_staff(
    engine: AsyncEngine, venue_id: str, staff_id: str, now: datetime, actor: Actor
) -> int:
    """Revoke every key of the staff member at once; how many were working.

    Raises NotFound (not this venue's staff) and LastKey (they hold the
    venue's last working manager key).
    """
    async with engine.begin() as conn:
        keys = await venue_keys_locked(conn, venue_id, lock=True)
        theirs = [k for k in keys if k.staff_id == staff_id]
        if not theirs:
            raise NotFound("No such staff member")
        working = {k.key_id for k in theirs if k.works(now)}
        if not working:
            return 0
        if not other_manager_left(keys, working, now):
            raise LastKey("This person holds the venue's last manager key", staff_id=staff_id)
        await conn.execute(
            venue_keys.update().where(venue_keys.c.id.in_(working)).values(revoked_at=now)
        )
        await audit(
            conn,
            venue_id=venue_id,
            actor=actor,
            action="staff.revoke",
            target=staff_id,
            details={"role": theirs[0].role, "keys_revoked": len(working)},
        )
    return len(working)
