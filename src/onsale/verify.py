"""``onsale verify``: check one event's invariants against Postgres and Redis.

Violations (exit non-zero): a seat in two live tickets (I1), a section with
more live tickets than its capacity (I2), a captured payment without its order
or a paid order without its payment (I3), a guarded counter that disagrees
with the tickets. Drift between Redis and Postgres is reported as a warning:
the reconciler repairs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.inventory.store import InventoryStore


@dataclass
class Report:
    event_id: str
    violations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "ok": self.ok,
            "violations": self.violations,
            "warnings": self.warnings,
            "figures": self.figures,
        }


Q_DOUBLE_SEATS = """
SELECT seat, count(*) FROM tickets
WHERE event_id = :e AND status = 'live' AND seat IS NOT NULL
GROUP BY seat HAVING count(*) > 1"""
Q_SECTIONS = """
SELECT s.code, s.capacity, s.sold,
       (SELECT count(*) FROM tickets t
         WHERE t.event_id = s.event_id AND t.section = s.code AND t.status = 'live') AS live
FROM sections s WHERE s.event_id = :e ORDER BY s.position"""
Q_PAYMENT_NO_ORDER = """
SELECT id FROM payments
WHERE event_id = :e AND status IN ('captured', 'refunded') AND order_id IS NULL"""
Q_ORDER_NO_PAYMENT = """
SELECT o.id FROM orders o
WHERE o.event_id = :e AND NOT EXISTS (
  SELECT 1 FROM payments p WHERE p.order_id = o.id
    AND p.status IN ('authorized', 'captured', 'refunded'))"""
Q_LIVE_SEATS = """
SELECT t.seat, t.order_id FROM tickets t
WHERE t.event_id = :e AND t.status = 'live' AND t.seat IS NOT NULL"""


async def _postgres(engine: AsyncEngine, report: Report) -> dict[str, str]:
    e = {"e": report.event_id}
    async with engine.connect() as conn:
        for seat, n in (await conn.execute(sa.text(Q_DOUBLE_SEATS), e)).all():
            report.violations.append(f"seat {seat} is in {n} live tickets")
        live_total = 0
        for code, capacity, sold, live in (await conn.execute(sa.text(Q_SECTIONS), e)).all():
            live_total += live
            if live > capacity:
                report.violations.append(
                    f"section {code}: {live} live tickets > capacity {capacity}"
                )
            if sold != live:
                report.violations.append(f"section {code}: counter {sold} != {live} live tickets")
        for (pid,) in (await conn.execute(sa.text(Q_PAYMENT_NO_ORDER), e)).all():
            report.violations.append(f"payment {pid} was taken but has no order")
        for (oid,) in (await conn.execute(sa.text(Q_ORDER_NO_PAYMENT), e)).all():
            report.violations.append(f"order {oid} has no payment")
        live_seats = {
            str(s): str(o) for s, o in (await conn.execute(sa.text(Q_LIVE_SEATS), e)).all()
        }
    report.figures["live_tickets"] = live_total
    return live_seats


async def _redis(store: InventoryStore, report: Report, live_seats: dict[str, str]) -> None:
    counts = await store.counts(report.event_id)
    report.figures.update(redis_sold=counts.sold, redis_held=counts.held, capacity=counts.capacity)
    if not counts.ready:
        report.warnings.append(
            "Redis has no inventory for this event (it is rebuilt from "
            "Postgres before the next hold)"
        )
        return
    raw = await store.seat_marks(report.event_id)
    for seat, order_id in live_seats.items():
        if raw.get(seat) != f"S:{order_id}":
            report.warnings.append(
                f"seat {seat}: Redis shows {raw.get(seat)!r}, Postgres sold it to {order_id}"
            )
    if counts.sold != report.figures["live_tickets"]:
        report.warnings.append(
            f"Redis counts {counts.sold} sold, Postgres "
            f"{report.figures['live_tickets']} live tickets"
        )


async def verify_event(engine: AsyncEngine, store: InventoryStore, event_id: str) -> Report:
    report = Report(event_id)
    live_seats = await _postgres(engine, report)
    await _redis(store, report, live_seats)
    return report
