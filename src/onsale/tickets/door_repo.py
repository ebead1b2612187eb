"""The door in Postgres: door keys, check-ins, scans and their reports.

I11's atomic step is :func:`check_in`: ``INSERT ... ON CONFLICT DO NOTHING``
on the primary key (check-in list, ticket). However many scanners race, one
insert creates the row and is told so (RETURNING); the others find it there
(Postgres makes a second inserter of the same key wait for the first to
commit or roll back, then do nothing): exactly one ``admitted``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale.schema import checkins, door_keys, events, scans, tickets

KEY_PREFIX = "door_"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class DoorKey:
    id: str
    venue_id: str
    event_id: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


def _key(row: Any) -> DoorKey:
    return DoorKey(row.id, row.venue_id, row.event_id, row.label, row.created_at, row.revoked_at)


async def create_key(
    engine: AsyncEngine, venue_id: str, event_id: str, label: str
) -> tuple[str, DoorKey]:
    """A new key (shown once) and its record."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                door_keys.insert()
                .values(
                    id="dk_" + secrets.token_hex(8),
                    venue_id=venue_id,
                    event_id=event_id,
                    key_hash=key_hash(key),
                    label=label,
                )
                .returning(door_keys)
            )
        ).one()
    return key, _key(row)


async def list_keys(engine: AsyncEngine, event_id: str) -> list[DoorKey]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(door_keys)
            .where(door_keys.c.event_id == event_id)
            .order_by(door_keys.c.created_at, door_keys.c.id)
        )
        return [_key(r) for r in rows]


async def revoke_key(engine: AsyncEngine, event_id: str, key_id: str) -> bool:
    async with engine.begin() as conn:
        done = await conn.execute(
            door_keys.update()
            .where(door_keys.c.id == key_id, door_keys.c.event_id == event_id)
            .values(revoked_at=sa.func.coalesce(door_keys.c.revoked_at, sa.func.now()))
            .returning(door_keys.c.id)
        )
        return done.first() is not None


async def key_by_secret(engine: AsyncEngine, key: str) -> DoorKey | None:
    """The live key whose secret this is."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(door_keys).where(
                    door_keys.c.key_hash == key_hash(key), door_keys.c.revoked_at.is_(None)
                )
            )
        ).first()
    return _key(row) if row else None


# ----------------------------------------------------------------- scanning


async def claim_scan(
    conn: AsyncConnection,
    *,
    venue_id: str,
    scan_id: str,
    event_id: str | None,
    gate: str,
    scanned_at: datetime,
    offline: bool,
    local_result: str | None = None,
) -> bool:
    """Record a scan id; False when it was recorded before (its first answer
    stands). A concurrent scan with the same id waits here for the first."""
    row = await conn.execute(
        insert(scans)
        .values(
            venue_id=venue_id,
            scan_id=scan_id,
            event_id=event_id,
            gate=gate,
            scanned_at=scanned_at,
            offline=offline,
            local_result=local_result,
        )
        .on_conflict_do_nothing(index_elements=["venue_id", "scan_id"])
        .returning(scans.c.scan_id)
    )
    return row.first() is not None


async def scan_answer(engine: AsyncEngine, venue_id: str, scan_id: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        answer = (
            await conn.execute(
                sa.select(scans.c.answer).where(
                    scans.c.venue_id == venue_id, scans.c.scan_id == scan_id
                )
            )
        ).scalar_one_or_none()
    return dict(answer) if answer else None


async def finish_scan(
    conn: AsyncConnection,
    venue_id: str,
    scan_id: str,
    *,
    ticket_id: str | None,
    result: str,
    answer: dict[str, Any],
) -> None:
    await conn.execute(
        scans.update()
        .where(scans.c.venue_id == venue_id, scans.c.scan_id == scan_id)
        .values(ticket_id=ticket_id, result=result, answer=answer)
    )


async def ticket(conn: AsyncConnection, event_id: str, ticket_id: str) -> Any:
    return (
        await conn.execute(
            sa.select(tickets).where(tickets.c.id == ticket_id, tickets.c.event_id == event_id)
        )
    ).first()


async def check_in(
    conn: AsyncConnection,
    *,
    event_id: str,
    ticket_id: str,
    gate: str,
    scan_id: str,
    scanned_at: datetime,
) -> bool:
    """The atomic step (module docstring): True for the one scan that wins."""
    row = await conn.execute(
        insert(checkins)
        .values(
            list_id=event_id,
            ticket_id=ticket_id,
            event_id=event_id,
            gate=gate,
            scan_id=scan_id,
            scanned_at=scanned_at,
        )
        .on_conflict_do_nothing(index_elements=["list_id", "ticket_id"])
        .returning(checkins.c.ticket_id)
    )
    return row.first() is not None


async def checked_in(conn: AsyncConnection, event_id: str, ticket_id: str) -> Any:
    """The ticket's check-in (gate, scanned_at), or None."""
    return (
        await conn.execute(
            sa.select(checkins.c.gate, checkins.c.scanned_at).where(
                checkins.c.list_id == event_id, checkins.c.ticket_id == ticket_id
            )
        )
    ).first()


async def check_in_unguarded(
    conn: AsyncConnection,
    *,
    event_id: str,
    ticket_id: str,
    gate: str,
    scan_id: str,
    scanned_at: datetime,
) -> bool:
    """Only for the negative control of I11: look, then write. Two scanners
    that both look before either writes are both told they won."""
    if await checked_in(conn, event_id, ticket_id) is not None:
        return False
    await check_in(
        conn,
        event_id=event_id,
        ticket_id=ticket_id,
        gate=gate,
        scan_id=scan_id,
        scanned_at=scanned_at,
    )
    return True


# ------------------------------------------------------------------ reports


async def voided(engine: AsyncEngine, event_ids: list[str]) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(tickets.c.id).where(
                tickets.c.event_id.in_(event_ids), tickets.c.status == "void"
            )
        )
        return [r for (r,) in rows]


async def admitted_ids(engine: AsyncEngine, event_ids: list[str]) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(checkins.c.ticket_id).where(checkins.c.event_id.in_(event_ids))
        )
        return [r for (r,) in rows]


async def venue_events(engine: AsyncEngine, venue_id: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(events.c.id).where(events.c.venue_id == venue_id))
        return [r for (r,) in rows]


async def checked_in_count(engine: AsyncEngine, event_id: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    sa.select(sa.func.count()).where(checkins.c.event_id == event_id)
                )
            ).scalar_one()
        )


async def by_gate(engine: AsyncEngine, event_id: str) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(checkins.c.gate, sa.func.count())
            .where(checkins.c.event_id == event_id)
            .group_by(checkins.c.gate)
            .order_by(checkins.c.gate)
        )
        return {gate: int(n) for gate, n in rows}


async def conflicts(engine: AsyncEngine, event_id: str) -> list[dict[str, Any]]:
    """Double entries: scans made offline whose ticket was already in while
    the phone let the person in on its own (its local answer ``admitted``,
    or unknown)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(
                scans.c.ticket_id,
                tickets.c.number,
                tickets.c.section,
                tickets.c.seat,
                checkins.c.gate.label("first_gate"),
                checkins.c.scanned_at.label("first_at"),
                scans.c.gate.label("again_gate"),
                scans.c.scanned_at.label("again_at"),
            )
            .select_from(
                scans.join(tickets, tickets.c.id == scans.c.ticket_id).join(
                    checkins,
                    sa.and_(
                        checkins.c.list_id == scans.c.event_id,
                        checkins.c.ticket_id == scans.c.ticket_id,
                    ),
                )
            )
            .where(
                scans.c.event_id == event_id,
                scans.c.offline.is_(True),
                scans.c.result == "already_admitted",
                sa.func.coalesce(scans.c.local_result, "admitted") == "admitted",
            )
            .order_by(scans.c.scanned_at)
        )
        return [dict(r._mapping) for r in rows]
