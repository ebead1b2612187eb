"""Ticket numbers: sequential per venue, without gaps, never reused (I10).

The numbers come from the venue's row in ``ticket_counters``, updated inside
the order's transaction: a rolled-back order rolls its numbers back with it,
which a Postgres sequence would not (nextval is never undone). Every buyer of
the venue passes through that row, so the order transaction touches it as
its last statements: its lock is held for the shortest time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale.schema import ticket_counters, tickets


async def _take(conn: AsyncConnection, venue_id: str, n: int) -> int:
    """The first of ``n`` fresh numbers (the row is locked until the end of
    the transaction)."""
    stmt = insert(ticket_counters).values(venue_id=venue_id, last_number=n)
    upsert = stmt.on_conflict_do_update(
        index_elements=["venue_id"],
        set_={"last_number": ticket_counters.c.last_number + stmt.excluded.last_number},
    ).returning(ticket_counters.c.last_number)
    last = int((await conn.execute(upsert)).scalar_one())
    return last - n + 1


@dataclass(frozen=True)
class Numbering:
    """``in_order_transaction`` off (only the negative control of I10) takes
    the numbers in a transaction of their own, committed at once, as a
    sequence would: an order that then rolls back leaves a gap."""

    engine: AsyncEngine
    in_order_transaction: bool = True

    async def assign(
        self, conn: AsyncConnection, venue_id: str, ticket_ids: Sequence[str]
    ) -> list[int]:
        """Number the order's tickets (already inserted on ``conn``)."""
        if not ticket_ids:
            return []
        if self.in_order_transaction:
            first = await _take(conn, venue_id, len(ticket_ids))
        else:
            async with self.engine.begin() as own:
                first = await _take(own, venue_id, len(ticket_ids))
        numbers = [first + i for i in range(len(ticket_ids))]
        values = sa.values(
            sa.column("id", sa.Text), sa.column("number", sa.BigInteger), name="numbered"
        ).data(list(zip(ticket_ids, numbers, strict=True)))
        await conn.execute(
            tickets.update().where(tickets.c.id == values.c.id).values(number=values.c.number)
        )
        return numbers
