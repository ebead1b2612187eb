"""What the security tests need on a real ``onsale serve``: a venue, an event
on sale, a fan admitted (by the server's own admission task)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import ADMIN_TOKEN, auth, event_body


def open_event(api: httpx.Client, admin_token: str = ADMIN_TOKEN, **kwargs: Any) -> str:
    """A new venue and an event on sale now; the event id."""
    venue = api.post(
        "/api/admin/venues",
        headers=auth(admin_token),
        json={"name": "Hostile", "slug": f"hostile-{time.monotonic_ns()}", "timezone": "UTC"},
    )
    assert venue.status_code == 201, venue.text
    event = api.post(
        "/api/admin/events", headers=auth(venue.json()["api_key"]), json=event_body(**kwargs)
    )
    assert event.status_code == 201, event.text
    event_id: str = event.json()["id"]
    return event_id


def admitted(api: httpx.Client, event_id: str) -> str:
    """Join the queue and wait (bounded) for the server to admit: the access token."""
    joined = api.post(f"/api/events/{event_id}/queue")
    assert joined.status_code == 201, joined.text
    token = joined.json()["queue_token"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status = api.get(f"/api/events/{event_id}/queue/status", headers=auth(token)).json()
        if status["state"] == "admitted":
            access: str = status["access_token"]
            return access
        time.sleep(0.2)
    raise AssertionError("not admitted within 15 s")
