"""The transactional outbox (I12): an e-mail promised by an order is a row
written in the order's transaction, so it exists if and only if the order
does; a worker (worker.py) sends it later, retrying until the mail server
takes it.

Generic over ``kind`` (a template per kind in mail.py). A row holds no
rendered message: it is rendered at send time from the order, so the only
buyer data a row may hold is an explicit ``recipient`` (for kinds without an
order), which :func:`erase` clears.

Claiming: one row per transaction, ``FOR UPDATE SKIP LOCKED``, held while the
message goes out; several workers (processes) never take the same row, and a
worker that dies mid-send leaves the row pending (its lock goes with its
connection), to be sent again: at least once. It is marked sent in the same
transaction that held it: at most once unless resent on purpose (a new row).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale.schema import outbox

ORDER_TICKETS = "order_tickets"
PAYMENT_CANCELLED = "payment_cancelled"  # tickets/cancelled_mail.py


async def enqueue(
    conn: AsyncConnection,
    kind: str,
    venue_id: str,
    *,
    order_id: str | None = None,
    recipient: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> int:
    """Add a message to send (in the caller's transaction); its id."""
    row = await conn.execute(
        outbox.insert()
        .values(
            kind=kind,
            venue_id=venue_id,
            order_id=order_id,
            recipient=recipient,
            payload=dict(payload or {}),
        )
        .returning(outbox.c.id)
    )
    return int(row.scalar_one())


@dataclass(frozen=True)
class Message:
    id: int
    kind: str
    venue_id: str
    order_id: str | None
    recipient: str | None
    payload: dict[str, Any]
    attempts: int


@dataclass
class Claim:
    """A row taken by one worker, inside its transaction."""

    conn: AsyncConnection
    message: Message

    async def sent(self) -> None:
        await self.conn.execute(
            outbox.update()
            .where(outbox.c.id == self.message.id)
            .values(status="sent", sent_at=sa.func.now(), attempts=outbox.c.attempts + 1)
        )

    async def failed(self, error: str, retry_in: timedelta) -> None:
        await self.conn.execute(
            outbox.update()
            .where(outbox.c.id == self.message.id)
            .values(
                attempts=outbox.c.attempts + 1,
                last_error=error[:200],
                next_attempt_at=sa.func.now() + retry_in,
            )
        )


@contextlib.asynccontextmanager
async def claim_due(engine: AsyncEngine, *, lock: bool = True) -> AsyncIterator[Claim | None]:
    """The oldest due message no other worker holds, locked until the block
    ends (then committed), or None. ``lock`` off (only the negative control
    of I12) reads the row without locking it: two workers take the same one."""
    due = (
        sa.select(outbox)
        .where(outbox.c.status == "pending", outbox.c.next_attempt_at <= sa.func.now())
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(1)
    )
    async with engine.begin() as conn:
        row = (await conn.execute(due.with_for_update(skip_locked=True) if lock else due)).first()
        if row is None:
            yield None
            return
        yield Claim(
            conn,
            Message(
                row.id,
                row.kind,
                row.venue_id,
                row.order_id,
                row.recipient,
                row.payload,
                row.attempts,
            ),
        )


async def resend(engine: AsyncEngine, kind: str, venue_id: str, order_id: str) -> int:
    """Send an order's message again, on purpose: a new row."""
    async with engine.begin() as conn:
        return await enqueue(conn, kind, venue_id, order_id=order_id)


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_pending_at: datetime | None
    last_sent_at: datetime | None


async def backlog(engine: AsyncEngine) -> Backlog:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(
                    sa.func.count().filter(outbox.c.status == "pending"),
                    sa.func.min(outbox.c.created_at).filter(outbox.c.status == "pending"),
                    sa.func.max(outbox.c.sent_at),
                )
            )
        ).one()
    return Backlog(int(row[0]), row[1], row[2])


async def sent_count(engine: AsyncEngine, order_id: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    sa.select(sa.func.count()).where(
                        outbox.c.order_id == order_id, outbox.c.status == "sent"
                    )
                )
            ).scalar_one()
        )
