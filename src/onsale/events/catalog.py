"""The event catalog: creating, changing and reading events, with a short
in-process cache of events so that a hot on-sale does not read Postgres on
every request. While Postgres is away, the last events read stay in use (the
queue and the holds live in Redis and go on), instead of failing every fan.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onsale import db
from onsale.audit import Actor
from onsale.errors import NotFound
from onsale.events import policy, repo
from onsale.events.policy import Event

log = logging.getLogger(__name__)

CACHE_SECONDS = 2.0


# Called with an event once it is stored or changed (the runtime makes Redis
# hold its queue settings and inventory: see onsale.recovery).
PrepareRedis = Callable[[Event], Awaitable[object]]


async def _nothing(event: Event) -> None:
    return None


@dataclass
class EventCatalog:
    engine: AsyncEngine
    # Runs in the transaction that creates an event (the queue's draw).
    on_insert: repo.OnInsert | None = None
    on_saved: PrepareRedis = _nothing

    def __post_init__(self) -> None:
        self._cache: dict[str, tuple[float, Event]] = {}
        self._loading: dict[str, asyncio.Future[Event | None]] = {}
        self._live: list[Event] | None = None  # the last list of live events read

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

    async def create_event(self, venue_id: str, body: Any, actor: Actor | None = None) -> Event:
        spec = policy.parse_event(body)
        event_id = await repo.insert_event(self.engine, venue_id, spec, self.on_insert, actor)
        event = Event(event_id, venue_id, spec, datetime.now(UTC))
        await self.on_saved(event)
        return event

    async def update_event(
        self, event_id: str, venue_id: str, body: Any, actor: Actor | None = None
    ) -> Event:
        event = await self.get_for_venue(event_id, venue_id)
        spec = policy.apply_patch(event.spec, body)
        await repo.update_event(self.engine, event_id, venue_id, spec, body, actor)
        self._cache.pop(event_id, None)
        updated = Event(event_id, venue_id, spec, event.created_at)
        await self.on_saved(updated)
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


def event_json(event: Event) -> dict[str, Any]:
    """The admin view of an event: its definition plus identity."""
    return {"id": event.id, "venue_id": event.venue_id, **policy.spec_to_json(event.spec)}
