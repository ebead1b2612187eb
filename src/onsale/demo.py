"""The demo: a venue and an event whose sale opens a minute from now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from onsale.admin.service import VenueService
from onsale.events.catalog import EventCatalog
from onsale.events.policy import Event


def demo_event_body(
    now: datetime,
    *,
    opens_in: timedelta = timedelta(minutes=1),
    rate_per_minute: int = 120,
    max_active: int = 50,
    hold_seconds: int = 300,
) -> dict[str, Any]:
    opens = now + opens_in
    return {
        "name": "Demo night: Les Gens du Quai",
        "starts_at": (now + timedelta(days=30)).isoformat(),
        "sale": {
            "prequeue_opens_at": now.isoformat(),
            "opens_at": opens.isoformat(),
            "closes_at": (now + timedelta(days=29)).isoformat(),
        },
        "admission": {
            "rate_per_minute": rate_per_minute,
            "max_active": max_active,
            "session_seconds": 600,
        },
        "hold_seconds": hold_seconds,
        "limits": {"per_order": 6, "per_buyer": 6},
        "language": "fr",
        "categories": [
            {
                "code": "STD",
                "name": "Standard",
                "price_cents": 2500,
                "fee_cents": 100,
                "currency": "EUR",
            },
            {
                "code": "BALC",
                "name": "Balcony",
                "price_cents": 3500,
                "fee_cents": 100,
                "currency": "EUR",
            },
        ],
        "sections": [
            {"code": "FLOOR", "kind": "ga", "category": "STD", "capacity": 300},
            {
                "code": "BALC",
                "kind": "seated",
                "category": "BALC",
                "rows": [{"row": r, "seats": 20} for r in "ABCDEFGHIJ"],
            },
        ],
    }


async def seed(
    venues: VenueService,
    events: EventCatalog,
    *,
    opens_in: timedelta = timedelta(minutes=1),
    busy: bool = False,
) -> tuple[dict[str, str], Event]:
    """Create the demo venue (a fresh slug each time) and its event."""
    now = datetime.now(UTC).replace(microsecond=0)
    venue = await venues.create_venue(
        {
            "name": "La Coopérative de Mai (demo)",
            "slug": f"demo-{now.strftime('%Y%m%d%H%M%S')}",
            "timezone": "Europe/Paris",
        }
    )
    # A crowd sells out in about a minute: admit faster, more shoppers at once.
    pace = {"rate_per_minute": 1200, "max_active": 200, "hold_seconds": 60} if busy else {}
    event = await events.create_event(venue["id"], demo_event_body(now, opens_in=opens_in, **pace))
    return venue, event
