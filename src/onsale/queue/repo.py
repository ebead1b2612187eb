"""The waiting room in Postgres: the pre-queue draw's record (the commitment
from the event's creation; the seed and the drawn order revealed after the
draw), and the counters a Redis that lost its data is restored from."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale.monitoring import timing
from onsale.queue import draw
from onsale.schema import draws, queue_places


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


@dataclass(frozen=True)
class Places:
    """The durable counters of one event's queue (zeros before any)."""

    serving: int = 0
    reserved: int = 0


@timing.postgres
async def get_places(engine: AsyncEngine, event_id: str) -> Places:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(queue_places.c.serving, queue_places.c.reserved).where(
                    queue_places.c.event_id == event_id
                )
            )
        ).first()
    return Places(int(row.serving), int(row.reserved)) if row else Places()


async def _raise(engine: AsyncEngine, event_id: str, column: str, value: int) -> None:
    """Raise one counter to ``value``; never lowers it, so concurrent writers
    (every process runs the admission step) cannot move it back."""
    stmt = pg_insert(queue_places).values({"event_id": event_id, column: value})
    current = queue_places.c[column]
    stmt = stmt.on_conflict_do_update(
        index_elements=[queue_places.c.event_id],
        set_={
            column: sa.func.greatest(current, stmt.excluded[column]),
            "updated_at": sa.func.now(),
        },
        where=current < stmt.excluded[column],
    )
    async with engine.begin() as conn:
        await conn.execute(stmt)


@timing.postgres
async def save_serving(engine: AsyncEngine, event_id: str, serving: int) -> None:
    """Record the serving number after an admission step."""
    await _raise(engine, event_id, "serving", serving)


@timing.postgres
async def reserve(engine: AsyncEngine, event_id: str, upto: int) -> None:
    """Record that numbers up to ``upto`` may be given out (before any is)."""
    await _raise(engine, event_id, "reserved", upto)
