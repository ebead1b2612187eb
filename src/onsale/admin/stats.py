"""A venue's figures of one event (``GET /api/admin/events/{id}/stats``):
tickets and money from Postgres, holds and the queue from Redis, through the
services that own them."""

from __future__ import annotations

from typing import Any

from onsale.checkout.orders import OrderBook
from onsale.events.policy import Event
from onsale.inventory.service import InventoryService
from onsale.queue.service import QueueService
from onsale.tickets.door_repo import checked_in_count


async def event_stats(
    event: Event, *, inventory: InventoryService, queue: QueueService, orders: OrderBook
) -> dict[str, Any]:
    held = (await inventory.counts(event.id)).held
    waiting = await queue.counts(event.id)
    summary = await orders.summary(event.id)
    info = await inventory.public_event(event)
    checked_in = await checked_in_count(orders.engine, event.id)
    return {
        "capacity": event.spec.capacity,
        "sold": summary.live_tickets,
        "held": held,
        "available": max(event.spec.capacity - summary.live_tickets - held, 0),
        "queue": {
            "waiting": waiting["waiting"],
            "admitted": waiting["admitted"],
            "active": waiting["active"],
        },
        "orders": summary.paid_orders,
        "revenue_cents": summary.revenue_cents,
        "fees_cents": summary.fees_cents,
        "refunded_orders": summary.refunded_orders,
        "checked_in": checked_in,
        "currency": event.spec.currency,
        "status": info["status"],
        "sections": info["sections"],
    }
