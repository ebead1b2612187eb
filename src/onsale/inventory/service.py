"""Holds as the edges ask for them: validated, and with the inventory rebuilt
from Postgres first if Redis lost it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from onsale.errors import SaleNotOpen, Unavailable, ValidationFailed
from onsale.events.catalog import PrepareRedis
from onsale.events.policy import Event, spec_to_json
from onsale.inventory import policy
from onsale.inventory.seatmap import CACHE_SECONDS, SeatMapCache
from onsale.inventory.store import Counts, Hold, InventoryStore
from onsale.monitoring import metrics, timing

# The most places one hold takes, however asked for: the bound policy.parse_hold
# puts on "quantity", also for a list of seats. The box office has no per-order
# limit, and 100 places at the dearest price still fit Postgres' integer money
# columns; a longer list would overflow them (a 500 with the seats in checkout).
MAX_PLACES = 100


def new_hold_id() -> str:
    return f"hold_{secrets.token_hex(8)}"


@dataclass
class InventoryService:
    store: InventoryStore
    # Makes Redis hold an event's inventory again (onsale.recovery).
    prepare_redis: PrepareRedis
    # How long one reading of the seat states serves the seat map requests.
    seat_map_seconds: float = CACHE_SECONDS
    seat_maps: SeatMapCache = field(init=False)

    def __post_init__(self) -> None:
        self.seat_maps = SeatMapCache(self.store, seconds=self.seat_map_seconds)

    async def hold(self, event: Event, entry: str, body: Any, *, boxoffice: bool = False) -> Hold:
        """Hold what ``body`` asks for (API.md), all or nothing.

        Raises ValidationFailed, SaleNotOpen (online, outside the sale window:
        a shopping session outlives a sale that closes or is moved),
        SeatsUnavailable, LimitExceeded, Forbidden, CheckoutInProgress;
        Unavailable only if the inventory cannot be built.
        """
        with timing.Outcome(metrics.HOLD_SECONDS):
            return await self._hold(event, entry, body, boxoffice)

    async def _hold(self, event: Event, entry: str, body: Any, boxoffice: bool) -> Hold:
        if not boxoffice and event.status(datetime.now(UTC)) != "on_sale":
            raise SaleNotOpen("The online sale is not open")
        request = policy.parse_hold(event.spec, body)
        if request.quantity > MAX_PLACES:
            field = "seats" if request.seats else "quantity"
            raise ValidationFailed(
                f"At most {MAX_PLACES} places per hold", fields={field: f"at most {MAX_PLACES}"}
            )
        hold_id = new_hold_id()
        try:
            return await self.store.hold(event.id, hold_id, entry, request, boxoffice=boxoffice)
        except Unavailable:
            # Redis lost the event (restart, flush): rebuild it from Postgres,
            # which refuses holds until sold seats are marked again, then retry.
            await self.prepare_redis(event)
            return await self.store.hold(event.id, hold_id, entry, request, boxoffice=boxoffice)

    async def counts(self, event_id: str) -> Counts:
        return await self.store.counts(event_id)

    async def release(self, event_id: str, hold_id: str, entry: str) -> int:
        return await self.store.release(event_id, hold_id, entry)

    async def public_event(self, event: Event) -> dict[str, Any]:
        """The fan's view of an event: its definition and what is left."""
        counts = await self.store.counts(event.id)
        ga = await self.store.ga_counts(event.id)
        # From the seat map's reading of the states (onsale.inventory.seatmap).
        free_by_section = (
            await self.seat_maps.free_by_section(event.id)
            if any(s.kind == "seated" for s in event.spec.sections)
            else {}
        )
        spec = event.spec
        sold_out = counts.ready and counts.capacity > 0 and counts.sold >= counts.capacity
        sections = []
        for s in spec.sections:
            if s.kind == "ga":
                g = ga.get(s.code, {})
                available = max(g.get("cap", s.capacity) - g.get("held", 0) - g.get("sold", 0), 0)
            else:
                available = free_by_section.get(s.code, 0)
            sections.append(
                {
                    "code": s.code,
                    "kind": s.kind,
                    "category": s.category,
                    "capacity": s.capacity,
                    "available": available,
                }
            )
        public = spec_to_json(spec)
        return {
            "id": event.id,
            "name": spec.name,
            "starts_at": public["starts_at"],
            "status": event.status(datetime.now(UTC), sold_out=sold_out),
            "sale": public["sale"],
            "hold_seconds": spec.hold_seconds,
            "limits": public["limits"],
            "language": spec.language,
            "categories": public["categories"],
            "sections": sections,
        }


def hold_json(hold: Hold) -> dict[str, Any]:
    return {
        "hold_id": hold.hold_id,
        "seats": list(hold.seats),
        "section": hold.section,
        "quantity": hold.quantity,
        "expires_at": hold.expires_at.isoformat().replace("+00:00", "Z"),
        "state": hold.state,
    }
