"""Orders after the sale: their view on the wire, and refunds."""

from __future__ import annotations

import logging
from typing import Any

from onsale.checkout import payment_repo, repo
from onsale.checkout.payments import PaymentError
from onsale.checkout.service import CheckoutService
from onsale.errors import Unavailable
from onsale.events.policy import iso
from onsale.monitoring import metrics, timing

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
                "status": t.status,
            }
            for t in order.tickets
        ],
    }
    if order_token:
        out["order_token"] = order_token
    return out


async def refund(service: CheckoutService, order: repo.OrderRow, actor: str) -> bool:
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
                    await provider.refund(payment.provider_ref, payment.amount_cents)
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
