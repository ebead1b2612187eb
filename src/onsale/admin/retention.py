"""The retention job: ``retention_days`` after each event, its buyers are
anonymized the same way an erasure does it (``admin.erasure``), without
anyone asking (invariant I13).

Idempotent and resumable: each batch is one transaction that anonymizes up
to ``batch_size`` orders not yet marked (``orders.anonymized_at``) and marks
them; the event is marked done (``events.buyers_anonymized_at``) once none is
left. A job stopped mid-way (a deploy, a crash) leaves whole batches done and
the next pass goes on from there; two processes running it at once skip each
other's locked rows. Any process may run it (it is one of the runtime's
background tasks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.admin import erasure
from onsale.audit import Actor, audit
from onsale.monitoring import metrics, timing
from onsale.schema import events, orders

SYSTEM = Actor("system", None, None)


@dataclass
class RetentionJob:
    engine: AsyncEngine
    batch_size: int = 500
    interval_seconds: float = 600.0

    async def due(self, now: datetime) -> list[Any]:
        """Events past their retention not yet marked done."""
        ends = events.c.starts_at + sa.func.make_interval(0, 0, 0, events.c.retention_days)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(events.c.id, events.c.venue_id)
                .where(events.c.buyers_anonymized_at.is_(None), ends <= now)
                .order_by(events.c.starts_at)
            )
            return list(rows.all())

    @timing.postgres
    async def batch(self, event_id: str, venue_id: str, now: datetime) -> int:
        """Anonymize one batch of the event's orders; how many (0: none was
        left, and the event is marked done if no other process holds any)."""
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(orders.c.id, orders.c.hold_id)
                    .where(orders.c.event_id == event_id, orders.c.anonymized_at.is_(None))
                    .order_by(orders.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if rows:
                scope = erasure.Scope(
                    venue_id,
                    tuple(r.id for r in rows),
                    tuple(r.hold_id for r in rows if r.hold_id),
                    (),
                    now,
                )
                await erasure.anonymize(conn, scope)
                return len(rows)
            await self._finish(conn, event_id, venue_id, now)
        return 0

    async def _finish(self, conn: Any, event_id: str, venue_id: str, now: datetime) -> None:
        # Rows another process has locked are not "done": it may yet roll back.
        left = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(orders)
                .where(orders.c.event_id == event_id, orders.c.anonymized_at.is_(None))
            )
        ).scalar_one()
        if left:
            return
        await erasure.erase_event_leftovers(conn, event_id)
        marked = await conn.execute(
            events.update()
            .where(events.c.id == event_id, events.c.buyers_anonymized_at.is_(None))
            .values(buyers_anonymized_at=now)
        )
        if marked.rowcount:
            total = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(orders)
                    .where(orders.c.event_id == event_id)
                )
            ).scalar_one()
            await audit(
                conn,
                venue_id=venue_id,
                actor=SYSTEM,
                action="retention.anonymize",
                target=event_id,
                details={"orders": total},
            )

    async def run_once(
        self, now: datetime | None = None, *, max_batches: int | None = None
    ) -> dict[str, int]:
        """One pass over the due events; ``max_batches`` stops it early (the
        tests' "stopped mid-way"). Counts of orders anonymized and events done."""
        now = now or datetime.now(UTC)
        due = await self.due(now)
        done, anonymized, batches = 0, 0, 0
        for row in due:
            while max_batches is None or batches < max_batches:
                batches += 1
                n = await self.batch(row.id, row.venue_id, now)
                anonymized += n
                metrics.BUYERS_ANONYMIZED.labels("retention").inc(n)
                if n == 0:
                    done += 1
                    break
        metrics.RETENTION_EVENTS_PENDING.set(len(due) - done)
        metrics.RETENTION_LAST_RUN.set(time.time())
        return {"anonymized": anonymized, "events_done": done, "events_due": len(due)}

    async def step(self) -> None:
        """The background task's step."""
        await self.run_once()
