"""The per-buyer limit (``limits.per_buyer`` of an event): how many live
tickets one buyer may hold, counted by normalized e-mail
(``checkout.policy.normalize_email``: case, ``+tag``, Gmail dots) inside the
order's transaction.

It is the second of two checks: while holding, ``inventory/lua/hold.lua``
already caps what one queue entry may take at the same number (one entry is
one buyer, at Redis speed); this one holds across entries, tokens and
processes, because it runs where the order is written.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from onsale.errors import LimitExceeded
from onsale.schema import orders, tickets


async def enforce(
    conn: AsyncConnection, event_id: str, email_norm: str, wanted: int, per_buyer: int | None
) -> None:
    """Raise LimitExceeded if ``wanted`` more tickets would take the buyer
    past ``per_buyer`` (None: no limit, the box office). Call it inside the
    order's transaction: it serializes the buyer's orders of the event."""
    if per_buyer is None:
        return
    # Serialize the checkouts of one buyer of one event, so that two parallel
    # orders cannot both pass the limit.
    await conn.execute(
        sa.select(
            sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(event_id + "|" + email_norm, 0))
        )
    )
    bought = (
        await conn.execute(
            sa.select(sa.func.count())
            .select_from(tickets.join(orders))
            .where(
                orders.c.event_id == event_id,
                orders.c.buyer_email_norm == email_norm,
                tickets.c.status == "live",
            )
        )
    ).scalar_one()
    if bought + wanted > per_buyer:
        raise LimitExceeded(
            "This buyer has reached the ticket limit of the event",
            per_buyer=per_buyer,
            bought=bought,
        )
