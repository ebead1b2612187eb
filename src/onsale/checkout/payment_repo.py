"""Payment rows in Postgres: one per attempt to charge, with its provider's
reference and status (pending -> authorized -> captured -> refunded, or
declined / voided). The card's last four digits are all that is kept of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale.checkout.repo import new_id
from onsale.monitoring import timing
from onsale.schema import payments


@dataclass(frozen=True)
class Payment:
    id: str
    status: str
    provider: str
    provider_ref: str | None
    order_id: str | None
    amount_cents: int
    # Stripe's (migration 0009): the account's venue, the event and hold,
    # and what a webhook needs to write the order of a fan who left.
    venue_id: str | None = None
    event_id: str = ""
    hold_id: str | None = None
    currency: str = ""
    buyer_email: str | None = None
    buyer_name: str | None = None
    queue_entry: str | None = None
    updated_at: datetime | None = None

    @property
    def account(self) -> str:
        """The provider account to call about it ("": the provider's only one)."""
        return self.venue_id or ""


def _payment(row: Any) -> Payment:
    return Payment(
        row.id,
        row.status,
        row.provider,
        row.provider_ref,
        row.order_id,
        row.amount_cents,
        row.venue_id,
        row.event_id,
        row.hold_id,
        row.currency,
        row.buyer_email,
        row.buyer_name,
        row.queue_entry,
        row.updated_at,
    )


@timing.postgres
async def get_payment(engine: AsyncEngine, payment_id: str) -> Payment | None:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(payments).where(payments.c.id == payment_id))).first()
    return _payment(row) if row else None


# Payments read at most for one idempotency key: its attempts (a retry after a
# lost reply, a 503), a handful in practice.
KEY_ATTEMPTS = 50


@timing.postgres
async def reusable_payment(engine: AsyncEngine, key: str, hold_id: str) -> Payment | None:
    """An authorized payment of an earlier attempt with this key that has no
    order yet: a retry reuses it instead of charging again (I3).

    The query names the idempotency key alone, so that the one index it can
    use is ``ix_payments_idempotency_key`` (a few entries per key, whatever
    the size of the table); the rest is checked here. With the conditions on
    ``order_id IS NULL`` and ``status`` in the query, the planner took, once
    the table had been analyzed, ``ix_payments_order_id`` or a partial index
    on status: both estimated at one row, but each payment is written with
    no order first, so their dead entries (until a vacuum) made it read 100
    to 460 blocks a checkout, growing with the sales (bench_checkout.py).
    """
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(payments)
                .where(payments.c.idempotency_key == key)
                .order_by(payments.c.created_at.desc())
                .limit(KEY_ATTEMPTS)
            )
        ).all()
    for row in rows:
        if row.hold_id == hold_id and row.status == "authorized" and row.order_id is None:
            return _payment(row)
    return None


_REUSE_OR_CREATE = sa.text(
    "WITH reuse AS (SELECT id, hold_id, status, order_id, created_at FROM payments"
    " WHERE idempotency_key = :key ORDER BY created_at DESC LIMIT :attempts),"
    " old AS (SELECT id FROM reuse WHERE hold_id = :hold AND status = 'authorized'"
    " AND order_id IS NULL ORDER BY created_at DESC LIMIT 1),"
    " pay AS (INSERT INTO payments (id, event_id, hold_id, provider, idempotency_key,"
    " amount_cents, currency, card_last4, status)"
    " SELECT :id, :event, :hold, :provider, :key, :amount, :currency, :last4, 'pending'"
    " WHERE NOT EXISTS (SELECT 1 FROM old) RETURNING id)"
    " SELECT COALESCE((SELECT id FROM old), (SELECT id FROM pay)) AS id"
)


@timing.postgres
async def reuse_or_create(
    engine: AsyncEngine,
    *,
    event_id: str,
    hold_id: str,
    provider: str,
    key: str,
    amount_cents: int,
    currency: str,
    last4: str,
) -> tuple[str, bool]:
    """:func:`reusable_payment`, else :func:`payment_create`, in one
    statement (one round trip, one transaction): the payment id and whether
    it is a new ``pending`` row. The key alone picks the rows, for the
    reason :func:`reusable_payment` gives."""
    payment_id = new_id("pay")
    async with engine.begin() as conn:
        found = (
            await conn.execute(
                _REUSE_OR_CREATE,
                {
                    "key": key,
                    "attempts": KEY_ATTEMPTS,
                    "hold": hold_id,
                    "id": payment_id,
                    "event": event_id,
                    "provider": provider,
                    "amount": amount_cents,
                    "currency": currency,
                    "last4": last4,
                },
            )
        ).scalar_one()
    return str(found), found == payment_id


@timing.postgres
async def payment_create(
    engine: AsyncEngine,
    *,
    event_id: str,
    hold_id: str | None,
    provider: str,
    key: str,
    amount_cents: int,
    currency: str,
    last4: str,
    venue_id: str | None = None,
    buyer: tuple[str, str] | None = None,
    queue_entry: str | None = None,
) -> str:
    """A new payment row, ``pending``. ``buyer`` (e-mail, name) is kept only
    for Stripe payments, whose order a webhook may write: buyer data."""
    payment_id = new_id("pay")
    async with engine.begin() as conn:
        await conn.execute(
            payments.insert().values(
                id=payment_id,
                event_id=event_id,
                hold_id=hold_id,
                provider=provider,
                idempotency_key=key,
                amount_cents=amount_cents,
                currency=currency,
                card_last4=last4,
                status="pending",
                venue_id=venue_id,
                buyer_email=buyer[0] if buyer else None,
                buyer_name=buyer[1] if buyer else None,
                queue_entry=queue_entry,
            )
        )
    return payment_id


@timing.postgres
async def payment_set(
    engine: AsyncEngine | AsyncConnection,
    payment_id: str,
    status: str,
    *,
    ref: str | None = None,
) -> None:
    values: dict[str, Any] = {"status": status, "updated_at": sa.func.now()}
    if ref is not None:
        values["provider_ref"] = ref
    stmt = payments.update().where(payments.c.id == payment_id).values(**values)
    if isinstance(engine, AsyncConnection):
        await engine.execute(stmt)
        return
    async with engine.begin() as conn:
        await conn.execute(stmt)


@timing.postgres
async def order_payment(engine: AsyncEngine, order_id: str) -> Payment | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(payments)
                .where(payments.c.order_id == order_id)
                .order_by(payments.c.created_at.desc())
                .limit(1)
            )
        ).first()
    return _payment(row) if row else None


@timing.postgres
async def orphan_payments(engine: AsyncEngine, older_than: timedelta) -> list[Payment]:
    """Payments begun but with no order, silent for ``older_than``."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(payments)
                .where(
                    payments.c.status.in_(("pending", "authorized")),
                    payments.c.order_id.is_(None),
                    payments.c.updated_at < sa.func.now() - older_than,
                )
                .limit(500)
            )
        ).all()
    return [_payment(r) for r in rows]


@timing.postgres
async def uncaptured_paid(engine: AsyncEngine, settled: timedelta) -> list[Payment]:
    """Authorized payments whose order was written ``settled`` ago or more:
    their checkout died before capturing."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(payments)
                .where(
                    payments.c.status == "authorized",
                    payments.c.order_id.is_not(None),
                    payments.c.updated_at < sa.func.now() - settled,
                )
                .limit(500)
            )
        ).all()
    return [_payment(r) for r in rows]


@timing.postgres
async def by_ref(engine: AsyncEngine, provider: str, ref: str) -> Payment | None:
    """The payment a provider knows as ``ref`` (a PaymentIntent id)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(payments)
                .where(payments.c.provider == provider, payments.c.provider_ref == ref)
                .order_by(payments.c.created_at)
                .limit(1)
            )
        ).first()
    return _payment(row) if row else None


@timing.postgres
async def by_key(engine: AsyncEngine, provider: str, key: str, hold_id: str) -> Payment | None:
    """The payment an earlier request with this idempotency key started."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(payments)
                .where(
                    payments.c.provider == provider,
                    payments.c.idempotency_key == key,
                    payments.c.hold_id == hold_id,
                    payments.c.provider_ref.is_not(None),
                )
                .order_by(payments.c.created_at)
                .limit(1)
            )
        ).first()
    return _payment(row) if row else None


@timing.postgres
async def set_places(engine: AsyncEngine, payment_id: str, places: str) -> None:
    """What the payment's hold holds (JSON): a webhook may have to hold the
    same places again after the hold ran out."""
    async with engine.begin() as conn:
        await conn.execute(
            payments.update().where(payments.c.id == payment_id).values(places=places)
        )


@timing.postgres
async def get_places(
    engine: AsyncEngine, payment_id: str
) -> tuple[str, tuple[str, ...], int] | None:
    """(section, seats, quantity) of :func:`set_places`, or None."""
    async with engine.connect() as conn:
        raw = (
            await conn.execute(sa.select(payments.c.places).where(payments.c.id == payment_id))
        ).scalar_one_or_none()
    if not raw:
        return None
    places = json.loads(raw)
    return str(places["section"]), tuple(str(s) for s in places["seats"]), int(places["q"])


@timing.postgres
async def count_for_hold(engine: AsyncEngine, provider: str, hold_id: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(payments)
                    .where(payments.c.provider == provider, payments.c.hold_id == hold_id)
                )
            ).scalar_one()
        )
