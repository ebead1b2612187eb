"""The per-event figures, read from Redis and Postgres at scrape time.

Every process would read the same truth, so whichever process answers a
scrape reads it once (at most once a second: the reading is cached) and
exposes it beside the per-process metrics. Only events whose sale is live
(pre-queue opened, not closed) are read, which bounds the ``event_id`` label.

A backend that does not answer within :data:`TIMEOUT_SECONDS` is reported
down (``onsale_backend_up``) and its figures are left out of that scrape;
while Postgres is down the last known list of live events is used for the
Redis figures.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from onsale import db
from onsale.keys import event_keys
from onsale.monitoring import timing
from onsale.monitoring.figures import (
    EventReading,
    QueueFigures,
    Reading,
    SalesFigures,
    StockFigures,
    oversold,
    sale_open,
)
from onsale.redis import AnyRedis
from onsale.schema import orders, sections, tickets

if TYPE_CHECKING:  # monitoring imports no domain at run time (tests/unit/test_layers.py)
    from onsale.events.policy import Event

log = logging.getLogger(__name__)

CACHE_SECONDS = 1.0
TIMEOUT_SECONDS = 2.0
T = TypeVar("T")


QUEUE_FIELDS = [
    "next",
    "serving",
    "abandoned",
    "rate",
    "max_active",
    "parked",
    "stall_ms",
    "stall_run_ms",
    "stall_longest_ms",
]
META_FIELDS = ["capacity", "held", "sold"]


def _int(value: Any) -> int:
    return int(value or 0)


async def read_redis(
    client: AnyRedis, prefix: str, event_ids: list[str]
) -> dict[str, tuple[QueueFigures, StockFigures]]:
    """Queue and stock figures of the events, in one round trip."""
    if not event_ids:
        await client.ping()
        return {}
    now_ms = int(time.time() * 1000)
    async with client.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            k = event_keys(prefix, event_id)
            pipe.hmget(k.queue, QUEUE_FIELDS)
            pipe.scard(k.prequeue)
            pipe.zcount(k.active, now_ms, "+inf")
            pipe.hlen(k.by_entry)
            pipe.hmget(k.meta, META_FIELDS)
        replies = await pipe.execute()
    out: dict[str, tuple[QueueFigures, StockFigures]] = {}
    for i, event_id in enumerate(event_ids):
        queue, prequeue, active, holding, meta = replies[5 * i : 5 * i + 5]
        next_no, serving, abandoned, rate, max_active, parked, stall, run, longest = (
            _int(v) for v in queue
        )
        out[event_id] = (
            QueueFigures(
                waiting=max(next_no - serving, 0) + _int(prequeue),
                prequeue=_int(prequeue),
                admitted=max(serving - abandoned, 0),
                abandoned=abandoned,
                active=_int(active),
                holding=_int(holding),
                max_active=max_active,
                rate_per_minute=rate,
                parked=parked,
                stall_seconds=stall / 1000,
                current_stall_seconds=run / 1000,
                longest_stall_seconds=longest / 1000,
            ),
            StockFigures(*(_int(v) for v in meta)),
        )
    return out


@timing.postgres
async def read_sales(engine: AsyncEngine, event_ids: list[str]) -> dict[str, SalesFigures]:
    """Orders, revenue, live tickets and oversold places of the events."""
    if not event_ids:
        return {}
    live = (
        sa.select(
            tickets.c.event_id,
            tickets.c.section,
            sa.func.count().label("n"),
            sa.func.count(sa.distinct(tickets.c.seat)).label("seats"),
        )
        .where(tickets.c.event_id.in_(event_ids), tickets.c.status == "live")
        .group_by(tickets.c.event_id, tickets.c.section)
        .subquery()
    )
    by_section = (
        sa.select(
            sections.c.event_id,
            sections.c.kind,
            sections.c.capacity,
            sa.func.coalesce(live.c.n, 0),
            sa.func.coalesce(live.c.seats, 0),
        )
        .select_from(
            sections.outerjoin(
                live,
                sa.and_(live.c.event_id == sections.c.event_id, live.c.section == sections.c.code),
            )
        )
        .where(sections.c.event_id.in_(event_ids))
    )
    by_status = (
        sa.select(
            orders.c.event_id,
            orders.c.status,
            orders.c.currency,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(orders.c.total_cents), 0),
        )
        .where(orders.c.event_id.in_(event_ids))
        .group_by(orders.c.event_id, orders.c.status, orders.c.currency)
    )
    live_tickets: dict[str, int] = defaultdict(int)
    over: dict[str, int] = defaultdict(int)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    revenue: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    async with engine.connect() as conn:
        for event_id, kind, capacity, n, seats in (await conn.execute(by_section)).all():
            live_tickets[event_id] += n
            over[event_id] += oversold(kind, capacity, n, seats)
        for event_id, status, currency, n, cents in (await conn.execute(by_status)).all():
            counts[event_id][status] += n
            if status == "paid":
                revenue[event_id][currency] += cents
    return {
        e: SalesFigures(live_tickets[e], over[e], dict(counts[e]), dict(revenue[e]))
        for e in event_ids
    }


def monitoring_engine(url: str) -> AsyncEngine:
    """The collector's own Postgres engine, without a pool: a connection per
    collection (at most one a second). A scrape then neither waits behind
    checkouts for the app's pool nor takes a connection from them when the
    pool is exhausted in a hot sale, and ``onsale_backend_up`` says whether
    Postgres answers, not whether the pool had room."""
    return create_async_engine(
        db.async_url(url),
        poolclass=NullPool,
        hide_parameters=True,  # errors are logged: no bound values in them
        connect_args={
            "timeout": TIMEOUT_SECONDS,
            "command_timeout": TIMEOUT_SECONDS,
            "server_settings": {"application_name": "onsale-metrics"},
        },
    )


class EventCollector:
    """Reads the per-event figures; a reading serves every scrape for
    :data:`CACHE_SECONDS`, and concurrent scrapes share one reading."""

    def __init__(
        self,
        engine: AsyncEngine,
        client: AnyRedis,
        prefix: str,
        *,
        live_events: Callable[[], Awaitable[list[Event]]],
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Given by the caller (onsale.events.repo.live_now): monitoring sits
        # below the event catalog and imports none of it.
        self._live_events = live_events
        self._client = client
        self._prefix = prefix
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cached: tuple[float, Reading] | None = None
        self._known: list[Event] = []
        self._lock = asyncio.Lock()
        self.collections = 0  # readings made (tests check the cache with it)

    async def read(self) -> Reading:
        cached = self._cached
        if cached and cached[0] > self._clock():
            return cached[1]
        async with self._lock:
            cached = self._cached
            if cached and cached[0] > self._clock():
                return cached[1]
            reading = await self._collect()
            self._cached = (self._clock() + self._cache_seconds, reading)
            return reading

    async def _collect(self) -> Reading:
        started = time.perf_counter()
        self.collections += 1
        now = datetime.now(UTC)
        events = await _attempt("postgres", self._live_events())
        postgres_up = events is not None
        if events is None:  # keep showing Redis' figures of the sales we knew
            events = [e for e in self._known if e.status(now) not in ("scheduled", "closed")]
        self._known = events
        ids = [e.id for e in events]
        from_redis, sales = await asyncio.gather(
            _attempt("redis", read_redis(self._client, self._prefix, ids)),
            _attempt("postgres", read_sales(self._engine, ids)) if postgres_up else _none(),
        )
        readings = []
        for event in events:
            queue, stock = from_redis.get(event.id, (None, None)) if from_redis else (None, None)
            readings.append(
                EventReading(
                    event.id,
                    sale_open(event, stock, now),
                    queue,
                    stock,
                    sales.get(event.id) if sales else None,
                )
            )
        return Reading(
            tuple(readings),
            redis_up=from_redis is not None,
            postgres_up=postgres_up and sales is not None,
            seconds=time.perf_counter() - started,
        )


async def _none() -> None:
    return None


async def _attempt(backend: str, work: Awaitable[T]) -> T | None:
    """The result of ``work``, or None (logged) if the backend failed or took
    longer than TIMEOUT_SECONDS."""
    try:
        return await asyncio.wait_for(work, TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("metrics collection: %s failed: %r", backend, exc, extra={"backend": backend})
        return None
