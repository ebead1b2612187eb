"""Event bodies shared by the unit tests (API.md's example and variations)."""

from __future__ import annotations

import copy
from typing import Any

from onsale.events.policy import EventSpec, parse_event

API_EXAMPLE: dict[str, Any] = {
    "name": "Night show",
    "starts_at": "2026-12-31T20:00:00Z",
    "sale": {
        "prequeue_opens_at": "2026-12-01T09:30:00Z",
        "opens_at": "2026-12-01T10:00:00Z",
        "closes_at": "2026-12-31T18:00:00Z",
    },
    "admission": {"rate_per_minute": 600, "max_active": 200, "session_seconds": 600},
    "hold_seconds": 480,
    "limits": {"per_order": 6, "per_buyer": 6},
    "categories": [
        {
            "code": "STD",
            "name": "Standard",
            "price_cents": 2500,
            "fee_cents": 100,
            "currency": "EUR",
        }
    ],
    "sections": [
        {"code": "FLOOR", "kind": "ga", "category": "STD", "capacity": 500},
        {
            "code": "BALC",
            "kind": "seated",
            "category": "STD",
            "rows": [{"row": "A", "seats": 20}, {"row": "B", "seats": 20}],
        },
    ],
}


def example_body() -> dict[str, Any]:
    return copy.deepcopy(API_EXAMPLE)


def example_spec() -> EventSpec:
    return parse_event(example_body())


def two_tier_spec() -> EventSpec:
    """Two categories, a GA floor and two seated sections."""
    body = example_body()
    body["categories"].append(
        {"code": "VIP", "name": "VIP", "price_cents": 9000, "fee_cents": 350, "currency": "EUR"}
    )
    body["sections"].append(
        {
            "code": "LOGE",
            "kind": "seated",
            "category": "VIP",
            "rows": [{"row": "1", "seats": 4}],
        }
    )
    return parse_event(body)
