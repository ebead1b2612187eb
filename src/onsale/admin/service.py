"""Venues and events: creating, changing and reading them, with a short
in-process cache of events so that a hot on-sale does not read Postgres on
every request. While Postgres is away, the last events read stay in use (the
queue and the holds live in Redis and go on), instead of failing every fan.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onsale import db
from onsale.admin import policy, repo
from onsale.admin.key_service import KeyService
from onsale.admin.policy import Event
from onsale.checkout import repo as orders_repo
from onsale.errors import NotFound
from onsale.inventory.store import InventoryStore, Sale
from onsale.queue.store import QueueStore

log = logging.getLogger(__name__)

CACHE_SECONDS = 2.0


def sale_of(order: orders_repo.OrderRow) -> Sale:
    """What a stored order bought, as the inventory scripts take it."""
    live = [t for t in order.tickets if t.status == "live"] or list(order.tickets)
    seats = tuple(t.seat for t in live if t.seat)
    return Sale(live[0].section if live else "", seats, len(live), order.queue_entry or "")


@dataclass
class EventService:
    engine: AsyncEngine
    inventory: InventoryStore
    queue: QueueStore

    def __post_init__(self) -> None:
        self._cache: dict[str, tuple[float, Event]] = {}
        self._loading: dict[str, asyncio.Future[Event | None]] = {}
        self._live: list[Event] | None = None  # the last list of live events read
        # The venue keys that authenticate every venue request.
        self.keys = KeyService(self.engine)

    async def get(self, event_id: str) -> Event:
        """The event, from a cache at most two seconds old. Raises NotFound.

        Concurrent misses of one event share a single Postgres read, so the
        thousands of fans arriving at an opening do not each take a connection.
        """
        hit = self._cache.get(event_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        if len(event_id) > 64:
            raise NotFound("No such event")
        pending = self._loading.get(event_id)
        if pending is None:
            pending = asyncio.ensure_future(self._load(event_id))
            self._loading[event_id] = pending
            pending.add_done_callback(lambda _: self._loading.pop(event_id, None))
        event = await asyncio.shield(pending)
        if event is None:
            raise NotFound("No such event")
        return event

    async def _load(self, event_id: str) -> Event | None:
        try:
            event = await repo.get_event(self.engine, event_id)
        except Exception as exc:
            stale = self._cache.get(event_id)
            if stale is None or not db.unavailable(exc):
                raise
            log.warning("event %s served from the cache: Postgres unavailable", event_id)
            return stale[1]
        if event is not None:
            self._cache[event_id] = (time.monotonic() + CACHE_SECONDS, event)
        return event

    async def get_for_venue(self, event_id: str, venue_id: str) -> Event:
        """The event if it belongs to the venue. Raises NotFound (also for another
        venue's event: its existence is not the caller's business)."""
        event = await self.get(event_id)
        if event.venue_id != venue_id:
            raise NotFound("No such event")
        return event

    async def create_venue(self, body: Any) -> dict[str, str]:
        name, slug, tz = policy.parse_venue(body)
        venue_id, key = await repo.create_venue(self.engine, name, slug, tz)
        return {"id": venue_id, "slug": slug, "name": name, "timezone": tz, "api_key": key}

    async def create_event(self, venue_id: str, body: Any) -> Event:
        spec = policy.parse_event(body)
        event_id = await repo.insert_event(self.engine, venue_id, spec)
        event = Event(event_id, venue_id, spec, datetime.now(UTC))
        await self.prepare_redis(event)
        return event

    async def update_event(self, event_id: str, venue_id: str, body: Any) -> Event:
        event = await self.get_for_venue(event_id, venue_id)
        spec = policy.apply_patch(event.spec, body)
        await repo.update_event(self.engine, event_id, venue_id, spec, body)
        self._cache.pop(event_id, None)
        updated = Event(event_id, venue_id, spec, event.created_at)
        await self.prepare_redis(updated)
        return updated

    async def list_events(self, venue_id: str) -> list[Event]:
        return await repo.list_events(self.engine, venue_id)

    async def live_events(self) -> list[Event]:
        """The events on sale now; the last list read while Postgres is away
        (admission goes on from Redis)."""
        now = datetime.now(UTC)
        try:
            self._live = await repo.live_events(self.engine, now)
        except Exception as exc:
            if self._live is None or not db.unavailable(exc):
                raise
            log.warning("live events from the last read: Postgres unavailable")
            return [e for e in self._live if e.spec.sale.closes_at > now]
        return self._live

    async def prepare_redis(self, event: Event) -> str:
        """Make Redis hold the event's inventory and queue settings: builds the
        inventory from Postgres' sold tickets when Redis has none (after a
        restart that lost the data) before any hold is accepted."""
        await self.queue.configure(event.id, event.spec)
        counts = await self.inventory.counts(event.id)
        sold: list[tuple[str, Sale]] = []
        if not counts.ready:
            sold = [
                (o.order_id, sale_of(o))
                for o in await orders_repo.live_sales(self.engine, event.id)
            ]
        return await self.inventory.rebuild(event.id, event.spec, sold)

    async def venue_for_key(self, key: str) -> str:
        """The venue of a working key. Raises Unauthorized (TokenExpired for a
        rotated key past its grace)."""
        return (await self.keys.authenticate(key)).venue_id


def event_json(event: Event) -> dict[str, Any]:
    """The admin view of an event: its definition plus identity."""
    return {"id": event.id, "venue_id": event.venue_id, **policy.spec_to_json(event.spec)}
