"""Venues in Postgres (their keys are in key_repo.py; events in onsale.events)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.admin.key_policy import hash_key, new_key, prefix_of
from onsale.audit import audit, new_id
from onsale.errors import AlreadyExists
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
