"""Events in Postgres: inserting, changing and reading their definitions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale.audit import Actor, audit, new_id
from onsale.events.policy import (
    Admission,
    Category,
    Event,
    EventSpec,
    Limits,
    Row,
    SaleWindow,
    Section,
)
from onsale.monitoring import timing
from onsale.schema import categories, events, sections, venues

# Work another domain adds to an event's creation, inside its transaction.
OnInsert = Callable[[AsyncConnection, str], Awaitable[None]]


def _event_values(spec: EventSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "starts_at": spec.starts_at,
        "prequeue_opens_at": spec.sale.prequeue_opens_at,
        "opens_at": spec.sale.opens_at,
        "closes_at": spec.sale.closes_at,
        "rate_per_minute": spec.admission.rate_per_minute,
        "max_active": spec.admission.max_active,
        "session_seconds": spec.admission.session_seconds,
        "absent_grace_seconds": spec.admission.absent_grace_seconds,
        "shopper_grace_seconds": spec.admission.shopper_grace_seconds,
        "pow_difficulty": spec.admission.pow_difficulty,
        "hold_seconds": spec.hold_seconds,
        "per_order": spec.limits.per_order,
        "per_buyer": spec.limits.per_buyer,
        "language": spec.language,
        "retention_days": spec.retention_days,
    }


@timing.postgres
async def insert_event(
    engine: AsyncEngine,
    venue_id: str,
    spec: EventSpec,
    also: OnInsert | None = None,
    actor: str | Actor | None = None,
) -> str:
    """Store a new event; ``also`` runs in the same transaction (the queue's
    draw commitment must exist from the event's creation on)."""
    event_id = new_id("ev")
    async with engine.begin() as conn:
        await conn.execute(
            events.insert().values(id=event_id, venue_id=venue_id, **_event_values(spec))
        )
        await conn.execute(
            categories.insert(),
            [
                {
                    "event_id": event_id,
                    "code": c.code,
                    "name": c.name,
                    "price_cents": c.price_cents,
                    "fee_cents": c.fee_cents,
                    "currency": c.currency,
                }
                for c in spec.categories
            ],
        )
        await conn.execute(
            sections.insert(),
            [
                {
                    "event_id": event_id,
                    "code": s.code,
                    "kind": s.kind,
                    "category": s.category,
                    "capacity": s.capacity,
                    "position": i,
                    "rows": [{"row": r.row, "seats": r.seats} for r in s.rows],
                }
                for i, s in enumerate(spec.sections)
            ],
        )
        if also is not None:
            await also(conn, event_id)
        await audit(
            conn,
            venue_id=venue_id,
            actor=actor or f"venue:{venue_id}",
            action="event.create",
            target=event_id,
            details={"name": spec.name},
        )
    return event_id


@timing.postgres
async def update_event(
    engine: AsyncEngine,
    event_id: str,
    venue_id: str,
    spec: EventSpec,
    changes: dict[str, Any],
    actor: str | Actor | None = None,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            events.update()
            .where(events.c.id == event_id)
            .values(updated_at=sa.func.now(), **_event_values(spec))
        )
        await audit(
            conn,
            venue_id=venue_id,
            actor=actor or f"venue:{venue_id}",
            action="event.update",
            target=event_id,
            details=changes,
        )


def _spec(row: Any, cats: list[Any], secs: list[Any]) -> EventSpec:
    return EventSpec(
        name=row.name,
        starts_at=row.starts_at,
        sale=SaleWindow(row.prequeue_opens_at, row.opens_at, row.closes_at),
        admission=Admission(
            row.rate_per_minute,
            row.max_active,
            row.session_seconds,
            absent_grace_seconds=row.absent_grace_seconds,
            shopper_grace_seconds=row.shopper_grace_seconds,
            pow_difficulty=row.pow_difficulty,
        ),
        hold_seconds=row.hold_seconds,
        limits=Limits(row.per_order, row.per_buyer),
        categories=tuple(
            Category(c.code, c.name, c.price_cents, c.fee_cents, c.currency) for c in cats
        ),
        sections=tuple(
            Section(
                s.code,
                s.kind,
                s.category,
                s.capacity,
                tuple(Row(r["row"], int(r["seats"])) for r in s.rows),
            )
            for s in secs
        ),
        language=row.language,
        retention_days=row.retention_days,
    )


async def _load(conn: AsyncConnection, where: Any) -> list[Event]:
    query = (
        sa.select(events, venues.c.suspended_at)
        .join(venues, venues.c.id == events.c.venue_id)
        .where(where)
        .order_by(events.c.opens_at)
    )
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    cats = (
        await conn.execute(
            sa.select(categories).where(categories.c.event_id.in_(ids)).order_by(categories.c.code)
        )
    ).all()
    secs = (
        await conn.execute(
            sa.select(sections).where(sections.c.event_id.in_(ids)).order_by(sections.c.position)
        )
    ).all()
    return [
        Event(
            r.id,
            r.venue_id,
            _spec(
                r, [c for c in cats if c.event_id == r.id], [s for s in secs if s.event_id == r.id]
            ),
            r.created_at,
            suspended=r.suspended_at is not None,
        )
        for r in rows
    ]


@timing.postgres
async def get_event(engine: AsyncEngine, event_id: str) -> Event | None:
    async with engine.connect() as conn:
        found = await _load(conn, events.c.id == event_id)
    return found[0] if found else None


@timing.postgres
async def list_events(engine: AsyncEngine, venue_id: str) -> list[Event]:
    async with engine.connect() as conn:
        return await _load(conn, events.c.venue_id == venue_id)


@timing.postgres
async def live_events(engine: AsyncEngine, now: datetime) -> list[Event]:
    """Events whose pre-queue has opened and whose sale has not closed (a
    suspended venue's are not: nobody is admitted to them)."""
    async with engine.connect() as conn:
        return await _load(
            conn,
            sa.and_(
                events.c.prequeue_opens_at <= now,
                events.c.closes_at > now,
                venues.c.suspended_at.is_(None),
            ),
        )


def live_now(engine: AsyncEngine) -> Callable[[], Awaitable[list[Event]]]:
    """A reader of the events live at each call (the metrics collector's)."""

    async def read() -> list[Event]:
        return await live_events(engine, datetime.now(UTC))

    return read
