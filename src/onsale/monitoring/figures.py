"""The per-event figures as values, and the metric families a scrape shows
of them: pure (no Redis, SQL or asyncio), read by :mod:`.collector`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from onsale.monitoring.metrics import COLLECTOR_FIGURES, EVENT_FIGURES, Figure

if TYPE_CHECKING:  # monitoring imports no domain at run time (tests/unit/test_layers.py)
    from onsale.events.policy import Event


@dataclass(frozen=True)
class QueueFigures:
    waiting: int
    prequeue: int
    admitted: int
    abandoned: int
    active: int
    holding: int
    max_active: int
    rate_per_minute: int
    # Shoppers parked as gone, and the stalls (admit.lua's accounting).
    parked: int = 0
    stall_seconds: float = 0.0
    current_stall_seconds: float = 0.0
    longest_stall_seconds: float = 0.0


@dataclass(frozen=True)
class StockFigures:
    capacity: int
    held: int
    sold: int


@dataclass(frozen=True)
class SalesFigures:
    live_tickets: int = 0
    oversold: int = 0
    orders: dict[str, int] = field(default_factory=dict)  # status -> count
    revenue_cents: dict[str, int] = field(default_factory=dict)  # currency -> paid total


@dataclass(frozen=True)
class EventReading:
    event_id: str
    sale_open: bool
    queue: QueueFigures | None = None
    stock: StockFigures | None = None
    sales: SalesFigures | None = None


@dataclass(frozen=True)
class Reading:
    events: tuple[EventReading, ...]
    redis_up: bool
    postgres_up: bool
    seconds: float = 0.0


def oversold(kind: str, capacity: int, live: int, distinct_seats: int) -> int:
    """Live tickets beyond what a section can hold: for a seated section, the
    tickets over one per seat (a seat sold twice) plus seats beyond the
    capacity; for general admission, the tickets beyond the capacity."""
    if kind == "seated":
        return (live - distinct_seats) + max(distinct_seats - capacity, 0)
    return max(live - capacity, 0)


def sale_open(event: Event, stock: StockFigures | None, now: datetime) -> bool:
    sold_out = stock is not None and stock.capacity > 0 and stock.sold >= stock.capacity
    return event.status(now, sold_out=sold_out) == "on_sale"


def _family(name: str, figure: Figure) -> GaugeMetricFamily | CounterMetricFamily:
    if figure.kind == "counter":
        return CounterMetricFamily(name, figure.help, labels=figure.labels)
    return GaugeMetricFamily(name, figure.help, labels=figure.labels)


def _event_samples(ev: EventReading) -> Iterator[tuple[str, list[str], float]]:
    """(metric name, label values, value) of one event's reading."""
    eid = [ev.event_id]
    yield "onsale_event_sale_open", eid, 1.0 if ev.sale_open else 0.0
    if ev.queue:
        q = ev.queue
        yield "onsale_queue_waiting_fans", eid, q.waiting
        yield "onsale_queue_prequeue_fans", eid, q.prequeue
        yield "onsale_queue_admitted_fans", eid, q.admitted
        yield "onsale_queue_abandoned_fans", eid, q.abandoned
        yield "onsale_queue_active_shoppers", eid, q.active
        yield "onsale_queue_holding_shoppers", eid, q.holding
        yield "onsale_queue_max_active_shoppers", eid, q.max_active
        yield "onsale_queue_configured_rate_fans_per_minute", eid, q.rate_per_minute
        yield "onsale_queue_parked_shoppers", eid, q.parked
        yield "onsale_queue_stall_seconds", eid, q.stall_seconds
        yield "onsale_queue_current_stall_seconds", eid, q.current_stall_seconds
        yield "onsale_queue_longest_stall_seconds", eid, q.longest_stall_seconds
    if ev.stock:
        yield "onsale_inventory_capacity_places", eid, ev.stock.capacity
        yield "onsale_inventory_held_places", eid, ev.stock.held
        yield "onsale_inventory_sold_places", eid, ev.stock.sold
    if ev.sales:
        s = ev.sales
        yield "onsale_checkout_live_tickets", eid, s.live_tickets
        yield "onsale_inventory_oversold_places", eid, s.oversold
        for status in ("paid", "refunded"):
            yield "onsale_checkout_orders", [*eid, status], s.orders.get(status, 0)
        for currency, cents in sorted(s.revenue_cents.items()):
            yield "onsale_checkout_revenue_cents", [*eid, currency], cents
    if ev.stock and ev.sales:
        yield "onsale_inventory_drift_places", eid, ev.stock.sold - ev.sales.live_tickets


def families(reading: Reading) -> list[Metric]:
    """The metric families of one reading (what a scrape shows of it)."""
    out: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
        name: _family(name, figure)
        for name, figure in {**COLLECTOR_FIGURES, **EVENT_FIGURES}.items()
    }
    for backend, up in (("redis", reading.redis_up), ("postgres", reading.postgres_up)):
        out["onsale_backend_up"].add_metric([backend], 1.0 if up else 0.0)
    out["onsale_collector_duration_seconds"].add_metric([], reading.seconds)
    out["onsale_collector_live_events"].add_metric([], len(reading.events))
    for ev in reading.events:
        for name, labels, value in _event_samples(ev):
            out[name].add_metric(labels, value)
    return list(out.values())


class Static(Collector):
    """A registry collector that yields the families it was given."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = list(metrics)

    def collect(self) -> Iterable[Metric]:
        return self._metrics
