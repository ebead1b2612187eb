"""Every Redis key name, in one place.

All keys of one event share the hash tag ``{<event_id>}`` so that every script
touches a single slot: the same code runs on one Redis or on a Redis Cluster
that spreads events over shards.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class EventKeys:
    """The keys of one event. Build with :func:`event_keys`."""

    # inventory
    meta: str  # hash: ready flag, hold_ms, per_order, per_entry, capacity counts
    seats: str  # hash seat_id -> "F" | "H:<hold_id>" | "S:<order_id>"
    layout: str  # hash section -> JSON rows of seated sections / "ga:<capacity>"
    ga: str  # hash "<SECTION>:cap|held|sold" -> int
    holds: str  # hash hold_id -> JSON hold record
    expiries: str  # sorted set hold_id -> expiry (ms, Redis clock)
    by_entry: str  # hash queue entry -> live hold_id
    bought: str  # hash queue entry -> tickets bought
    sold_orders: str  # hash order_id -> JSON of what it sold (idempotence of commit-sold)
    refunded: str  # set of refunded order ids (idempotence of refund)
    ended: str  # sorted set hold_id -> when it ended (ms): hold_expired, not not_found
    # queue
    queue: str  # hash: next, serving, drawn, opens_ms, last_ms, carry, rate, max_active
    entries: str  # hash entry -> queue number ("0" while in the pre-queue)
    numbers: str  # hash queue number -> entry
    prequeue: str  # set of entries waiting for the draw
    active: str  # sorted set entry -> session expiry (ms): the active shoppers
    seen: str  # sorted set entry -> when the fan was last seen (ms): presence
    skipped: str  # set of entries skipped at admission because they were away
    draw_order: str  # list: the pre-queue entries in drawn order (revealed)
    regranted: str  # set of entries given their session again after Redis lost it
    present: str  # sorted set entry -> when an admitted shopper was last seen (ms)
    away: str  # sorted set entry -> session expiry (ms) of shoppers parked as gone

    def inventory(self) -> list[str]:
        """KEYS of the inventory scripts, in the order their headers name."""
        return [
            self.meta,
            self.seats,
            self.layout,
            self.ga,
            self.holds,
            self.expiries,
            self.by_entry,
            self.bought,
            self.sold_orders,
            self.refunded,
            self.active,
            self.present,
            self.away,
            self.ended,
        ]

    def queue_keys(self) -> list[str]:
        """KEYS of the queue scripts, in the order their headers name."""
        return [
            self.queue,
            self.entries,
            self.numbers,
            self.prequeue,
            self.active,
            self.meta,
            self.seen,
            self.skipped,
            self.draw_order,
            self.sold_orders,
            self.by_entry,
            self.regranted,
            self.present,
            self.away,
            self.expiries,
        ]

    def all(self) -> list[str]:
        return sorted(set(self.inventory()) | set(self.queue_keys()))


@functools.lru_cache(maxsize=4096)
def event_keys(prefix: str, event_id: str) -> EventKeys:
    """The keys of one event (cached: every script call of a hot sale asks)."""
    tag = f"{prefix}:{{{event_id}}}"
    return EventKeys(
        meta=f"{tag}:meta",
        seats=f"{tag}:seats",
        layout=f"{tag}:layout",
        ga=f"{tag}:ga",
        holds=f"{tag}:holds",
        expiries=f"{tag}:expiries",
        by_entry=f"{tag}:by_entry",
        bought=f"{tag}:bought",
        sold_orders=f"{tag}:sold_orders",
        refunded=f"{tag}:refunded",
        ended=f"{tag}:ended",
        queue=f"{tag}:queue",
        entries=f"{tag}:entries",
        numbers=f"{tag}:numbers",
        prequeue=f"{tag}:prequeue",
        active=f"{tag}:active",
        seen=f"{tag}:seen",
        skipped=f"{tag}:skipped",
        draw_order=f"{tag}:draw_order",
        regranted=f"{tag}:regranted",
        present=f"{tag}:present",
        away=f"{tag}:away",
    )


def join_rate_key(prefix: str, client: str, window: int) -> str:
    """Counter of one client's joins in one time window (any event)."""
    return f"{prefix}:rl:join:{client}:{window}"


def pow_used_key(prefix: str, challenge: str) -> str:
    """Marks a proof-of-work challenge as spent (each may serve one join)."""
    return f"{prefix}:pow:{challenge}"
