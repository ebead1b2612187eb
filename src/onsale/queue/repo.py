"""The pre-queue draw's record in Postgres: the commitment is there from the
event's creation; the seed and the drawn order are revealed after the draw."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale.monitoring import timing
from onsale.queue import draw
from onsale.schema import draws


@dataclass(frozen=True)
class DrawRecord:
    event_id: str
    commitment: str
    seed: bytes
    entries: list[str] | None  # None until drawn


async def create_draw(conn: AsyncConnection, event_id: str) -> None:
    """Draw the secret seed and store it with its commitment (once)."""
    seed = draw.new_seed()
    await conn.execute(
        pg_insert(draws)
        .values(
            event_id=event_id,
            commitment=draw.commitment(seed),
            seed=seed.hex(),
        )
        .on_conflict_do_nothing()
    )


@timing.postgres
async def get_draw(engine: AsyncEngine, event_id: str) -> DrawRecord | None:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(draws).where(draws.c.event_id == event_id))).first()
    if row is None:
        return None
    return DrawRecord(row.event_id, row.commitment, bytes.fromhex(row.seed), row.entries)


@timing.postgres
async def ensure_draw(engine: AsyncEngine, event_id: str) -> DrawRecord:
    found = await get_draw(engine, event_id)
    if found is not None:
        return found
    async with engine.begin() as conn:
        await create_draw(conn, event_id)
    record = await get_draw(engine, event_id)
    assert record is not None
    return record


@timing.postgres
async def save_drawn(engine: AsyncEngine, event_id: str, entries: list[str]) -> None:
    """Record the drawn order (first writer wins: the draw happens once)."""
    async with engine.begin() as conn:
        await conn.execute(
            draws.update()
            .where(draws.c.event_id == event_id, draws.c.entries.is_(None))
            .values(entries=entries, drawn_at=sa.func.now())
        )
