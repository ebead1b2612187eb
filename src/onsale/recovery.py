"""Making Redis hold an event again: the one place that knows what Redis must
hold before a fan is served and how to rebuild it from Postgres after Redis
lost its data (a restart without persistence, a failover to an empty replica).

* :meth:`Recovery.prepare_redis`: the queue settings, and the inventory built
  from Postgres' sold tickets when Redis has none;
* :meth:`Recovery.restore_queue`: the queue's counters and drawn pre-queue
  from Postgres (the queue service calls it once per event per process);
* :meth:`Recovery.repair`: the reconciler's pass over one event.

The services that may find Redis empty (joins, holds, admission, the
reconciler) are handed this object (or one of its methods) by the runtime;
none of them reads Postgres for it themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.checkout import repo as orders_repo
from onsale.checkout.reconciler import Repairs
from onsale.events.policy import Event
from onsale.inventory.store import InventoryStore, Sale
from onsale.queue import repo as queue_repo
from onsale.queue.store import QueueStore

# The queue's restore logs under the queue's name, as it always did.
queue_log = logging.getLogger("onsale.queue.service")


@dataclass
class Recovery:
    engine: AsyncEngine
    inventory: InventoryStore
    queue: QueueStore

    async def prepare_redis(self, event: Event) -> str:
        """Make Redis hold the event's inventory and queue settings: builds the
        inventory from Postgres' sold tickets when Redis has none (after a
        restart that lost the data) before any hold is accepted."""
        await self.queue.configure(event.id, event.spec)
        counts = await self.inventory.counts(event.id)
        sold: list[tuple[str, Sale]] = []
        if not counts.ready:
            sold = [
                (o.order_id, orders_repo.sale_of(o))
                for o in await orders_repo.live_sales(self.engine, event.id)
            ]
        return await self.inventory.rebuild(event.id, event.spec, sold)

    async def repair(self, event: Event, repairs: Repairs, settle_after: timedelta) -> None:
        """The reconciler's pass over one event (I7): rebuild the inventory if
        Redis lost it; replay commit-sold for paid orders (settled for
        ``settle_after``) Redis does not show as sold, and refunds it missed."""
        if not (await self.inventory.counts(event.id)).ready:
            await self.prepare_redis(event)
            repairs.add("inventory_rebuilt")
        elif not await self.queue.is_configured(event.id):
            await self.queue.configure(event.id, event.spec)
            repairs.add("queue_configured")
        sold = await self.inventory.sold_orders(event.id)
        engine = self.engine
        for order in await orders_repo.live_sales(engine, event.id, settled=settle_after):
            if order.order_id not in sold:
                await self.inventory.commit_sold(
                    event.id, order.order_id, order.hold_id or "", orders_repo.sale_of(order)
                )
                repairs.add("commit_sold_replayed")
        for order in await orders_repo.refunded_in_redis(engine, event.id, sold):
            if await self.inventory.refund(event.id, order.order_id, orders_repo.sale_of(order)):
                repairs.add("refund_replayed")

    async def restore_queue(
        self, event: Event, *, durable: bool, return_ms: int, force: bool
    ) -> None:
        """Make Redis hold the event's queue again after it lost its data: the
        settings and inventory, the serving number and the reserved numbers
        saved, and the drawn pre-queue (``durable`` off: none of them, the
        negative control of I6). ``force``: Redis came back older than
        Postgres, raise its counters. ``return_ms``: how long admission waits
        for a fan whose number Redis forgot to come back."""
        await self.prepare_redis(event)
        places, drawn = queue_repo.Places(), None
        if durable:
            places = await queue_repo.get_places(self.engine, event.id)
            record = await queue_repo.get_draw(self.engine, event.id)
            drawn = record.entries if record else None
        after_loss = places != queue_repo.Places() or drawn is not None
        restored = await self.queue.restore(
            event.id,
            serving=places.serving,
            reserved=places.reserved,
            drawn=drawn,
            durable=durable,
            return_ms=return_ms,
            after_loss=after_loss,
            force=force,
        )
        if restored and after_loss:
            queue_log.warning(
                "queue of %s restored after Redis %s: serving %d, reserved %d, %s drawn",
                event.id,
                "came back older" if force else "lost it",
                places.serving,
                places.reserved,
                "none" if drawn is None else len(drawn),
            )
