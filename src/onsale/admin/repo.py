"""Venues in Postgres (their keys are in key_repo.py; events in onsale.events)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.admin.key_policy import hash_key, new_key, prefix_of
from onsale.audit import Actor, audit, new_id
from onsale.errors import AlreadyExists, NotFound
from onsale.monitoring import timing
from onsale.schema import venue_keys, venues


@timing.postgres
async def create_venue(engine: AsyncEngine, name: str, slug: str, timezone: str) -> tuple[str, str]:
    """(venue id, API key). The key is returned once and stored only hashed.

    Raises AlreadyExists when the slug is taken.
    """
    venue_id = new_id("ven")
    key = new_key()
    try:
        async with engine.begin() as conn:
            await conn.execute(
                venues.insert().values(id=venue_id, name=name, slug=slug, timezone=timezone)
            )
            await conn.execute(
                venue_keys.insert().values(
                    id=new_id("key"),
                    venue_id=venue_id,
                    key_hash=hash_key(key),
                    prefix=prefix_of(key),
                )
            )
            await audit(
                conn,
                venue_id=venue_id,
                actor="platform",
                action="venue.create",
                target=venue_id,
                details={"slug": slug},
            )
    except IntegrityError as exc:
        raise AlreadyExists("A venue with this slug exists", fields={"slug": slug}) from exc
    return venue_id, key


@timing.postgres
async def set_suspended(
    engine: AsyncEngine, venue_id: str, when: datetime | None, actor: Actor
) -> datetime | None:
    """Suspend the venue from ``when`` (None: resume it); its suspension time.

    Raises NotFound for an unknown venue.
    """
    async with engine.begin() as conn:
        found = await conn.execute(
            venues.update()
            .where(venues.c.id == venue_id)
            .values(suspended_at=when)
            .returning(venues.c.suspended_at)
        )
        row = found.one_or_none()
        if row is None:
            raise NotFound("No such venue")
        await audit(
            conn,
            venue_id=venue_id,
            actor=actor,
            action="venue.suspend" if when else "venue.resume",
            target=venue_id,
        )
    suspended: datetime | None = row.suspended_at
    return suspended


@timing.postgres
async def venue_of(engine: AsyncEngine, venue_id: str) -> dict[str, str]:
    """The venue's id, name and slug. Raises NotFound."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                venues.select()
                .with_only_columns(venues.c.id, venues.c.name, venues.c.slug)
                .where(venues.c.id == venue_id)
            )
        ).one_or_none()
    if row is None:
        raise NotFound("No such venue")
    return {"id": row.id, "name": row.name, "slug": row.slug}
