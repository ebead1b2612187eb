"""Orders after the sale: their view on the wire, and refunds."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.audit import Actor
from onsale.checkout import payment_repo, repo
from onsale.checkout.service import CheckoutService
from onsale.errors import NotFound, Unavailable
from onsale.events.policy import iso
from onsale.monitoring import metrics, timing
from onsale.payments.providers import PaymentError

log = logging.getLogger("onsale.checkout.service")  # the name refund lines always had


def order_json(order: repo.OrderRow, order_token: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "order_id": order.order_id,
        "event_id": order.event_id,
        "status": order.status,
        "channel": order.channel,
        "buyer": {"email": order.buyer_email, "name": order.buyer_name},
        "total_cents": order.total_cents,
        "fees_cents": sum(t.fee_cents for t in order.tickets),
        "currency": order.currency,
        "created_at": iso(order.created_at),
        "tickets": [
            {
                "ticket_id": t.ticket_id,
                "section": t.section,
                "seat": t.seat,
                "price_cents": t.price_cents,
                "fee_cents": t.fee_cents,
                "code": t.code,
                "number": t.number,
                "status": t.status,
            }
            for t in order.tickets
        ],
    }
    if order_token:
        out["order_token"] = order_token
    return out


async def refund(service: CheckoutService, order: repo.OrderRow, actor: str | Actor) -> bool:
    """Refund an order: the money back through its provider, the tickets void,
    the places back on sale. False when it was refunded already.

    Raises Unavailable when the provider cannot refund now (nothing changed).
    """
    if order.status == "refunded":
        return False
    payment = await payment_repo.order_payment(service.engine, order.order_id)
    if payment is not None and payment.provider_ref and payment.status == "captured":
        provider = service.providers.get(payment.provider)
        if provider is not None:
            try:
                with timing.timed(metrics.PAYMENT_CALL_SECONDS.labels(provider.name, "refund")):
                    await provider.refund(
                        payment.provider_ref, payment.amount_cents, account=payment.account
                    )
            except PaymentError as exc:
                raise Unavailable("The payment provider could not refund now") from exc
    changed = await repo.mark_refunded(service.engine, order, actor)
    try:
        await service.inventory.refund(order.event_id, order.order_id, repo.sale_of(order))
    except Exception:  # the reconciler replays refunds Redis missed
        log.exception(
            "refund in Redis failed; the reconciler will replay it",
            extra={"order_id": order.order_id},
        )
    return changed


@dataclass
class OrderBook:
    """The orders as the venue sees them: listed, summed up, refunded."""

    engine: AsyncEngine
    checkout: CheckoutService

    async def summary(self, event_id: str) -> repo.Summary:
        return await repo.event_summary(self.engine, event_id)

    async def of_event(self, event_id: str, search: str = "") -> list[repo.OrderRow]:
        return await repo.event_orders(self.engine, event_id, search=search)

    async def of_venue(self, order_id: str, venue_id: str) -> repo.OrderRow:
        """The order if it belongs to the venue. Raises NotFound (also for
        another venue's order)."""
        order = await repo.get_order(self.engine, order_id)
        if order is None or order.venue_id != venue_id:
            raise NotFound("No such order")
        return order

    async def refund(self, order: repo.OrderRow, actor: str | Actor) -> repo.OrderRow:
        """Refund (see :func:`refund`) and the order as it is now."""
        await refund(self.checkout, order, actor)
        refreshed = await repo.get_order(self.engine, order.order_id)
        assert refreshed is not None
        return refreshed
