"""Erasing buyers: every place onsale keeps a buyer's e-mail or name, in one
table (:data:`PLACES`), and the one function that anonymizes a set of orders
of one venue in all of them (invariant I13).

A place is a table, the values that replace what identified the buyer, and
how to find the rows of the orders being erased (:class:`Scope`: their ids,
their hold ids, the venue and the buyer's normalized e-mails). The accounts
stay: order ids, amounts, taxes, ticket numbers and codes are not touched.
A new table that keeps a buyer's e-mail or name (the e-mail outbox) is one
more :class:`Place`; ``tests/security/test_buyer_erasure.py`` searches every
text column of every table, so a place left out here fails it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from onsale.schema import consents, idempotency, orders, outbox, payment_notices, payments

# What stands in for an erased buyer. ``.invalid`` is reserved (RFC 2606):
# no mail is ever delivered there, and no real buyer has it.
ERASED_EMAIL = "erased@erased.invalid"
ERASED_NAME = "(erased)"
ERASED_BUYER = {"email": ERASED_EMAIL, "name": ERASED_NAME}


@dataclass(frozen=True)
class Scope:
    """The orders being erased, all of one venue."""

    venue_id: str
    order_ids: tuple[str, ...]
    hold_ids: tuple[str, ...]
    # The buyer asked (erasure by e-mail): their rows not tied to an order
    # (consents given and withdrawn) go too. Empty for retention.
    email_norms: tuple[str, ...]
    now: datetime


@dataclass(frozen=True)
class Place:
    """One table that keeps buyers' data: ``values(scope)`` replaces it in
    the rows ``rows(scope)`` selects."""

    name: str
    table: sa.Table
    values: Callable[[Scope], dict[str, Any]]
    rows: Callable[[Scope], ColumnElement[bool]]


def _orders_values(scope: Scope) -> dict[str, Any]:
    return {
        "buyer_email": ERASED_EMAIL,
        "buyer_email_norm": ERASED_EMAIL,
        "buyer_name": ERASED_NAME,
        "anonymized_at": sa.func.coalesce(orders.c.anonymized_at, scope.now),
    }


def _orders_rows(scope: Scope) -> ColumnElement[bool]:
    return sa.and_(orders.c.venue_id == scope.venue_id, orders.c.id.in_(scope.order_ids))


def _idempotency_values(scope: Scope) -> dict[str, Any]:
    # A checkout's stored answer (the order) holds no buyer today; an answer
    # that carries one (a payment step's) must not keep it.
    # jsonb || jsonb: the right side's "buyer" replaces the stored one.
    return {"response": idempotency.c.response.op("||")(sa.cast({"buyer": ERASED_BUYER}, JSONB))}


def _idempotency_rows(scope: Scope) -> ColumnElement[bool]:
    # A checkout's scope is "checkout:<hold id>"; its stored order names the order.
    return sa.and_(
        idempotency.c.response.has_key("buyer"),
        sa.or_(
            idempotency.c.scope.in_([f"checkout:{h}" for h in scope.hold_ids]),
            idempotency.c.response["order_id"].astext.in_(scope.order_ids),
        ),
    )


def _consents_values(scope: Scope) -> dict[str, Any]:
    return {
        "email": ERASED_EMAIL,
        "email_norm": ERASED_EMAIL,
        "email_ref": "",
        "anonymized_at": sa.func.coalesce(consents.c.anonymized_at, scope.now),
    }


def _consents_rows(scope: Scope) -> ColumnElement[bool]:
    return sa.and_(
        consents.c.venue_id == scope.venue_id,
        sa.or_(
            consents.c.order_id.in_(scope.order_ids),
            consents.c.email_norm.in_(scope.email_norms),
        ),
    )


def _payments_values(scope: Scope) -> dict[str, Any]:
    return {"buyer_email": ERASED_EMAIL, "buyer_name": ERASED_NAME}


def _payments_rows(scope: Scope) -> ColumnElement[bool]:
    # A Stripe payment keeps the buyer it was started for (a webhook may write
    # the order of a fan who left): the orders' own, and, for an erasure by
    # e-mail, those that never became an order (cancelled). The e-mail is
    # compared lower-cased: a norm with Gmail dots or a +tag removed may miss
    # such a payment; the event's retention sweep (erase_event_leftovers)
    # takes those.
    return sa.and_(
        payments.c.buyer_email.is_not(None),
        payments.c.buyer_email != ERASED_EMAIL,
        sa.or_(
            payments.c.order_id.in_(scope.order_ids),
            payments.c.hold_id.in_(scope.hold_ids),
            sa.and_(
                payments.c.venue_id == scope.venue_id,
                sa.func.lower(payments.c.buyer_email).in_(scope.email_norms),
            ),
        ),
    )


def _notices_values(scope: Scope) -> dict[str, Any]:
    return {"buyer_email": ERASED_EMAIL}


def _notices_rows(scope: Scope) -> ColumnElement[bool]:
    return sa.and_(
        payment_notices.c.buyer_email.is_not(None),
        payment_notices.c.buyer_email != ERASED_EMAIL,
        sa.or_(
            payment_notices.c.payment_id.in_(
                sa.select(payments.c.id).where(payments.c.hold_id.in_(scope.hold_ids))
            ),
            sa.and_(
                payment_notices.c.venue_id == scope.venue_id,
                sa.func.lower(payment_notices.c.buyer_email).in_(scope.email_norms),
            ),
        ),
    )


def _outbox_values(scope: Scope) -> dict[str, Any]:
    # A message not sent yet is not sent any more: it would go to an address
    # the buyer asked the venue to forget (it is rendered from the order).
    return {
        "recipient": None,
        "status": "sent",
        "last_error": sa.case((outbox.c.status == "pending", "erased"), else_=outbox.c.last_error),
    }


def _outbox_rows(scope: Scope) -> ColumnElement[bool]:
    return sa.and_(
        outbox.c.venue_id == scope.venue_id,
        sa.or_(
            outbox.c.order_id.in_(scope.order_ids),
            sa.func.lower(outbox.c.recipient).in_(scope.email_norms),
        ),
        sa.or_(outbox.c.recipient.is_not(None), outbox.c.status == "pending"),
    )


# Every place a buyer's e-mail or name is kept. Tickets and the audit log
# hold none (the test proves it for every column of every table).
PLACES: tuple[Place, ...] = (
    Place("orders", orders, _orders_values, _orders_rows),
    Place("idempotency", idempotency, _idempotency_values, _idempotency_rows),
    Place("consents", consents, _consents_values, _consents_rows),
    Place("payments", payments, _payments_values, _payments_rows),
    Place("payment_notices", payment_notices, _notices_values, _notices_rows),
    Place("outbox", outbox, _outbox_values, _outbox_rows),
)


async def erase_event_leftovers(conn: AsyncConnection, event_id: str) -> int:
    """At an event's retention date, after its orders: the buyers kept by its
    payments that never became an order (and their notices). Safe to repeat."""
    done = await conn.execute(
        payments.update()
        .where(
            payments.c.event_id == event_id,
            payments.c.buyer_email.is_not(None),
            payments.c.buyer_email != ERASED_EMAIL,
        )
        .values(buyer_email=ERASED_EMAIL, buyer_name=ERASED_NAME)
    )
    await conn.execute(
        payment_notices.update()
        .where(
            payment_notices.c.event_id == event_id,
            payment_notices.c.buyer_email.is_not(None),
            payment_notices.c.buyer_email != ERASED_EMAIL,
        )
        .values(buyer_email=ERASED_EMAIL)
    )
    return int(done.rowcount)


async def anonymize(
    conn: AsyncConnection, scope: Scope, places: tuple[Place, ...] = PLACES
) -> dict[str, int]:
    """Anonymize the scope's buyers in every place (in the caller's
    transaction); the rows changed per place. Safe to run again."""
    changed: dict[str, int] = {}
    for place in places:
        result = await conn.execute(
            place.table.update().where(place.rows(scope)).values(**place.values(scope))
        )
        changed[place.name] = result.rowcount
    return changed
