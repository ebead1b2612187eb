"""Payments cancelled without an order, whose buyer is to be told by e-mail.

``notify_payment_cancelled`` is the one place that says so: it records the
notice (``payment_notices``, buyer data) and, in the same transaction, puts
the e-mail in the outbox (``tickets.outbox``, kind ``payment_cancelled``),
which sends it once (I12); ``sent_at`` says when it was handed over.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.monitoring import timing
from onsale.schema import payment_notices
from onsale.tickets import outbox

# Why a payment was cancelled (a stable word, for the e-mail's wording).
HOLD_GONE = "places_sold"  # the hold ran out and its places were sold meanwhile
NOT_COMPLETED = "not_completed"  # authorized, but no order could be written in time
REFUSED = "order_refused"  # the order was refused (the buyer's limit, say)


@timing.postgres
async def notify_payment_cancelled(
    engine: AsyncEngine,
    *,
    payment_id: str,
    venue_id: str | None,
    event_id: str,
    buyer_email: str | None,
    reason: str,
) -> None:
    """Tell the buyer their payment was cancelled (once per payment)."""
    async with engine.begin() as conn:
        noticed = await conn.execute(
            pg_insert(payment_notices)
            .values(
                payment_id=payment_id,
                venue_id=venue_id,
                event_id=event_id,
                buyer_email=buyer_email,
                reason=reason,
            )
            .on_conflict_do_nothing(index_elements=[payment_notices.c.payment_id])
            .returning(payment_notices.c.payment_id)
        )
        fresh = noticed.first() is not None  # a second call for the payment: no mail
        if fresh and venue_id and buyer_email:
            await outbox.enqueue(
                conn,
                outbox.PAYMENT_CANCELLED,
                venue_id,
                recipient=buyer_email,
                payload={"event_id": event_id, "reason": reason, "payment_id": payment_id},
            )
            await conn.execute(
                payment_notices.update()
                .where(payment_notices.c.payment_id == payment_id)
                .values(sent_at=sa.func.now())
            )
