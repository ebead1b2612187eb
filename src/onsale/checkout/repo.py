"""Orders and tickets in Postgres (payments: ``payment_repo``; idempotency
records: ``idempotency``).

``write_order`` is checkout step 3: one short transaction that Postgres itself
refuses when it would oversell (the partial unique index on live seats and the
guarded sold counter of each section), and that also stores the idempotent
answer, so a retry after a lost reply finds the order.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale.audit import Actor, audit
from onsale.checkout import buyer_limit, hot_rows, idempotency
from onsale.checkout.policy import Buyer, Quote
from onsale.errors import HoldExpired, SeatsUnavailable
from onsale.inventory.store import Sale
from onsale.monitoring import timing
from onsale.schema import orders, payments, sections, tickets
from onsale.tickets.issuer import TicketIssuer


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


# --------------------------------------------------------------------- orders


@dataclass(frozen=True)
class NewOrder:
    order_id: str
    event_id: str
    venue_id: str
    channel: str
    buyer: Buyer
    quote: Quote
    hold_id: str | None
    queue_entry: str | None
    payment_id: str
    per_buyer: int | None  # None: no per-buyer limit (box office)


async def _take_capacity(conn: AsyncConnection, order: NewOrder) -> None:
    by_section: dict[str, int] = {}
    for line in order.quote.lines:
        by_section[line.section] = by_section.get(line.section, 0) + 1
    for section, n in sorted(by_section.items()):
        taken = await conn.execute(
            sections.update()
            .where(
                sections.c.event_id == order.event_id,
                sections.c.code == section,
                sections.c.sold + n <= sections.c.capacity,
            )
            .values(sold=sections.c.sold + n)
            .returning(sections.c.sold)
        )
        if taken.first() is None:
            raise SeatsUnavailable("Not enough places left in this section", section=section)


@timing.postgres
async def write_order(
    engine: AsyncEngine,
    order: NewOrder,
    *,
    idem: tuple[str, str] | None,
    response: dict[str, Any],
    issuer: TicketIssuer,
    guard_capacity: bool = True,
) -> None:
    """Checkout step 3: write the order, its tickets and the idempotent answer.
    ``guard_capacity`` off (only the negative control of I2) writes GA tickets
    without the guarded counter, and concurrent buyers do oversell.

    Raises SeatsUnavailable (a seat already has a live ticket, or a section is
    full: Postgres refuses, whatever Redis said), LimitExceeded, and
    HoldExpired when another checkout wrote an order for the hold first.
    The tickets in ``response`` gain their ``number``.
    """
    try:
        async with engine.begin() as conn:
            await conn.execute(
                orders.insert().values(
                    id=order.order_id,
                    event_id=order.event_id,
                    venue_id=order.venue_id,
                    channel=order.channel,
                    status="paid",
                    buyer_email=order.buyer.email,
                    buyer_email_norm=order.buyer.email_norm,
                    buyer_name=order.buyer.name,
                    total_cents=order.quote.total_cents,
                    currency=order.quote.currency,
                    hold_id=order.hold_id,
                    queue_entry=order.queue_entry,
                )
            )
            # After the order row: a second order for one hold (two checkouts of
            # it in parallel) is refused here, before any check that could
            # blame the places.
            await buyer_limit.enforce(
                conn,
                order.event_id,
                order.buyer.email_norm,
                len(order.quote.lines),
                order.per_buyer,
            )
            # The rows nobody else touches first (tickets in one statement, the
            # payment link, the e-mail row), the contended ones last.
            await conn.execute(tickets.insert().values(_ticket_rows(order, response)))
            await conn.execute(
                payments.update()
                .where(payments.c.id == order.payment_id)
                .values(order_id=order.order_id, updated_at=sa.func.now())
            )
            if issuer.numbering.in_order_transaction and response["tickets"]:
                if order.buyer.email:
                    await issuer.enqueue_mail(conn, order.venue_id, order.order_id)
                await hot_rows.take(conn, order, idem, response, guard_capacity=guard_capacity)
            else:
                # The negative control of I10 (numbers in their own transaction):
                # the old order of statements, which that control needs.
                if guard_capacity:
                    await _take_capacity(conn, order)
                await _issue_tickets(conn, issuer, order, response)
                if idem is not None:
                    await idempotency.idem_finish(conn, idem[0], idem[1], 201, response)
    except IntegrityError as exc:
        if "tickets_live_seat" in str(exc.orig):
            raise SeatsUnavailable("A seat of this hold was sold to someone else") from exc
        if "orders_hold_id_key" in str(exc.orig):
            raise HoldExpired("This hold has been paid for", reason="paid") from exc
        raise


def _ticket_rows(order: NewOrder, response: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": t["ticket_id"],
            "order_id": order.order_id,
            "event_id": order.event_id,
            "section": t["section"],
            "seat": t["seat"],
            "price_cents": t["price_cents"],
            "fee_cents": t["fee_cents"],
            "code": t["code"],
            "status": "live",
        }
        for t in response["tickets"]
    ]


async def _issue_tickets(
    conn: AsyncConnection, issuer: TicketIssuer, order: NewOrder, response: dict[str, Any]
) -> None:
    """The e-mail row and the numbers (tickets/, I10 and I12): the venue's
    counter row is touched here, at the end, so its lock is held shortest."""
    numbers = await issuer.in_order_transaction(
        conn,
        order_id=order.order_id,
        venue_id=order.venue_id,
        ticket_ids=[t["ticket_id"] for t in response["tickets"]],
        send_email=bool(order.buyer.email),
    )
    for ticket, number in zip(response["tickets"], numbers, strict=True):
        ticket["number"] = number


@dataclass(frozen=True)
class TicketRow:
    ticket_id: str
    section: str
    seat: str | None
    price_cents: int
    fee_cents: int
    code: str
    status: str
    number: int | None = None


@dataclass(frozen=True)
class OrderRow:
    order_id: str
    event_id: str
    venue_id: str
    channel: str
    status: str
    buyer_email: str
    buyer_name: str
    total_cents: int
    currency: str
    hold_id: str | None
    queue_entry: str | None
    created_at: datetime
    tickets: tuple[TicketRow, ...]


async def _orders(conn: AsyncConnection, where: Any, limit: int | None = None) -> list[OrderRow]:
    q = sa.select(orders).where(where).order_by(orders.c.created_at, orders.c.id)
    rows = (await conn.execute(q.limit(limit) if limit else q)).all()
    if not rows:
        return []
    ticket_rows = (
        await conn.execute(
            sa.select(tickets)
            .where(tickets.c.order_id.in_([r.id for r in rows]))
            .order_by(
                tickets.c.number.nulls_last(), tickets.c.section, tickets.c.seat, tickets.c.id
            )
        )
    ).all()
    by_order: dict[str, list[TicketRow]] = {}
    for t in ticket_rows:
        by_order.setdefault(t.order_id, []).append(
            TicketRow(
                t.id, t.section, t.seat, t.price_cents, t.fee_cents, t.code, t.status, t.number
            )
        )
    return [
        OrderRow(
            r.id,
            r.event_id,
            r.venue_id,
            r.channel,
            r.status,
            r.buyer_email,
            r.buyer_name,
            r.total_cents,
            r.currency,
            r.hold_id,
            r.queue_entry,
            r.created_at,
            tuple(by_order.get(r.id, ())),
        )
        for r in rows
    ]


async def orders_where(conn: AsyncConnection, where: Any) -> list[OrderRow]:
    """The orders ``where`` selects, with their tickets (a buyer's export)."""
    return await _orders(conn, where)


@timing.postgres
async def hold_paid(engine: AsyncEngine, event_id: str, hold_id: str) -> bool:
    """Whether an order was written for this hold (orders.hold_id is unique)."""
    async with engine.connect() as conn:
        found = await conn.execute(
            sa.select(orders.c.id).where(orders.c.hold_id == hold_id, orders.c.event_id == event_id)
        )
        return found.first() is not None


@timing.postgres
async def get_order(engine: AsyncEngine, order_id: str) -> OrderRow | None:
    async with engine.connect() as conn:
        found = await _orders(conn, orders.c.id == order_id)
    return found[0] if found else None


@timing.postgres
async def event_orders(engine: AsyncEngine, event_id: str, *, search: str = "") -> list[OrderRow]:
    where = orders.c.event_id == event_id
    if search:
        like = f"%{search.lower()}%"
        where = sa.and_(
            where,
            sa.or_(
                orders.c.buyer_email_norm.like(like),
                sa.func.lower(orders.c.buyer_name).like(like),
                orders.c.id == search,
            ),
        )
    async with engine.connect() as conn:
        return await _orders(conn, where)


@timing.postgres
async def live_sales(
    engine: AsyncEngine, event_id: str, *, settled: timedelta | None = None
) -> list[OrderRow]:
    """Paid orders of an event, for rebuilding Redis and for reconciling
    (``settled``: only those older than that, whose checkout has finished)."""
    where = sa.and_(orders.c.event_id == event_id, orders.c.status == "paid")
    if settled is not None:
        where = sa.and_(where, orders.c.created_at < sa.func.now() - settled)
    async with engine.connect() as conn:
        return await _orders(conn, where)


@timing.postgres
async def refunded_in_redis(
    engine: AsyncEngine, event_id: str, sold_in_redis: set[str]
) -> list[OrderRow]:
    """Refunded orders that Redis still counts as sold (a refund whose Redis
    step did not run)."""
    if not sold_in_redis:
        return []
    async with engine.connect() as conn:
        return await _orders(
            conn,
            sa.and_(
                orders.c.event_id == event_id,
                orders.c.status == "refunded",
                orders.c.id.in_(sorted(sold_in_redis)),
            ),
        )


@dataclass(frozen=True)
class Summary:
    paid_orders: int
    refunded_orders: int
    live_tickets: int
    revenue_cents: int
    fees_cents: int


@timing.postgres
async def event_summary(engine: AsyncEngine, event_id: str) -> Summary:
    async with engine.connect() as conn:
        o = (
            await conn.execute(
                sa.select(
                    sa.func.count().filter(orders.c.status == "paid"),
                    sa.func.count().filter(orders.c.status == "refunded"),
                    sa.func.coalesce(
                        sa.func.sum(orders.c.total_cents).filter(orders.c.status == "paid"), 0
                    ),
                ).where(orders.c.event_id == event_id)
            )
        ).one()
        t = (
            await conn.execute(
                sa.select(
                    sa.func.count(),
                    sa.func.coalesce(sa.func.sum(tickets.c.fee_cents), 0),
                ).where(tickets.c.event_id == event_id, tickets.c.status == "live")
            )
        ).one()
    return Summary(int(o[0]), int(o[1]), int(t[0]), int(o[2]), int(t[1]))


@timing.postgres
async def mark_refunded(engine: AsyncEngine, order: OrderRow, actor: str | Actor) -> bool:
    """Void the tickets and give the places back to the section counters.
    False when the order was refunded already (nothing changed)."""
    async with engine.begin() as conn:
        done = await conn.execute(
            orders.update()
            .where(orders.c.id == order.order_id, orders.c.status == "paid")
            .values(status="refunded", refunded_at=sa.func.now())
            .returning(orders.c.id)
        )
        if done.first() is None:
            return False
        await conn.execute(
            tickets.update().where(tickets.c.order_id == order.order_id).values(status="void")
        )
        by_section: dict[str, int] = {}
        for t in order.tickets:
            by_section[t.section] = by_section.get(t.section, 0) + 1
        for section, n in sorted(by_section.items()):
            await conn.execute(
                sections.update()
                .where(sections.c.event_id == order.event_id, sections.c.code == section)
                .values(sold=sa.func.greatest(sections.c.sold - n, 0))
            )
        await conn.execute(
            payments.update()
            .where(payments.c.order_id == order.order_id, payments.c.status == "captured")
            .values(status="refunded", updated_at=sa.func.now())
        )
        await audit(
            conn,
            venue_id=order.venue_id,
            actor=actor,
            action="order.refund",
            target=order.order_id,
            details={"total_cents": order.total_cents},
        )
    return True


def sale_of(order: OrderRow) -> Sale:
    """What a stored order bought, as the inventory scripts take it."""
    live = [t for t in order.tickets if t.status == "live"] or list(order.tickets)
    seats = tuple(t.seat for t in live if t.seat)
    return Sale(live[0].section if live else "", seats, len(live), order.queue_entry or "")
