"""Holds as the edges ask for them: validated, and with the inventory rebuilt
from Postgres first if Redis lost it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from onsale.admin.policy import Event
from onsale.admin.service import EventService
from onsale.errors import Unavailable
from onsale.inventory import policy
from onsale.inventory.store import Hold, InventoryStore


def new_hold_id() -> str:
    return f"hold_{secrets.token_hex(8)}"


@dataclass
class InventoryService:
    store: InventoryStore
    events: EventService

    async def hold(self, event: Event, entry: str, body: Any, *, boxoffice: bool = False) -> Hold:
        """Hold what ``body`` asks for (API.md), all or nothing.

        Raises ValidationFailed, SeatsUnavailable, LimitExceeded, Forbidden,
        CheckoutInProgress; Unavailable only if the inventory cannot be built.
        """
        request = policy.parse_hold(event.spec, body)
        hold_id = new_hold_id()
        try:
            return await self.store.hold(event.id, hold_id, entry, request, boxoffice=boxoffice)
        except Unavailable:
            # Redis lost the event (restart, flush): rebuild it from Postgres,
            # which refuses holds until sold seats are marked again, then retry.
            await self.events.prepare_redis(event)
            return await self.store.hold(event.id, hold_id, entry, request, boxoffice=boxoffice)

    async def release(self, event_id: str, hold_id: str, entry: str) -> int:
        return await self.store.release(event_id, hold_id, entry)


def hold_json(hold: Hold) -> dict[str, Any]:
    return {
        "hold_id": hold.hold_id,
        "seats": list(hold.seats),
        "section": hold.section,
        "quantity": hold.quantity,
        "expires_at": hold.expires_at.isoformat().replace("+00:00", "Z"),
        "state": hold.state,
    }
