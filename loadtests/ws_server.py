"""bench_ws.py's view of the server: the one it starts (loadtests/launch.py),
its processes' memory and CPU (procstat.py) and /metrics at one moment, and
the benchmark's event (created admitting 1 fan a minute, its rate set when
the window starts, its sale closed at the end)."""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

import procstat
from scenario import event_body, iso
from ws_report import ServerSample

CAPACITY = 100_000
RAMP_RATE_PER_MINUTE = 1  # the lowest the API takes
BACKEND_COMMANDS = ("redis", "postgres")  # embedded servers are not the server's memory


def _process_tree(root: int) -> list[int]:
    """``root`` and its descendants, leaving out embedded Redis / Postgres."""
    stats = procstat.all_stats()
    return [p for p in procstat.tree(root, stats) if not stats[p].comm.startswith(BACKEND_COMMANDS)]


def _metrics(http: httpx.Client) -> dict[str, float]:
    """Every sample of GET /metrics, by its full name (labels included)."""
    out: dict[str, float] = {}
    for line in http.get("/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
    return out


def sample(http: httpx.Client, pid: int | None) -> ServerSample:
    pids = tuple(_process_tree(pid)) if pid else ()
    return ServerSample(
        time.time(), pids, procstat.rss_kib(pids), procstat.cpu_seconds(pids), _metrics(http)
    )


def _event_body(rate: int) -> dict[str, Any]:
    admission = {
        "rate_per_minute": rate,
        "max_active": 1_000_000,
        "session_seconds": 600,
        "absent_grace_seconds": 600,
    }
    return event_body(
        "Websocket benchmark", admission=admission, ga=CAPACITY, closes_in=timedelta(days=1)
    )


@dataclass(frozen=True)
class BenchEvent:
    id: str
    venue_key: str


def create_event(http: httpx.Client, admin_token: str) -> BenchEvent:
    """A new venue's new event, admitting (almost) nobody until set_rate."""
    venue = http.post(
        "/api/admin/venues",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={"name": "WS bench", "slug": f"ws-bench-{secrets.token_hex(4)}", "timezone": "UTC"},
    )
    if venue.status_code != 201:
        raise RuntimeError(f"creating the venue: {venue.status_code} {venue.text}")
    key = str(venue.json()["api_key"])
    event = http.post(
        "/api/admin/events",
        headers={"Authorization": f"Bearer {key}"},
        json=_event_body(RAMP_RATE_PER_MINUTE),
    )
    if event.status_code != 201:
        raise RuntimeError(f"creating the event: {event.status_code} {event.text}")
    return BenchEvent(str(event.json()["id"]), key)


def _patch_event(http: httpx.Client, event: BenchEvent, body: dict[str, Any]) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        r = http.patch(
            f"/api/admin/events/{event.id}",
            headers={"Authorization": f"Bearer {event.venue_key}"},
            json=body,
        )
        return r.status_code == 200
    return False


def set_rate(http: httpx.Client, event: BenchEvent, rate: int) -> bool:
    """Admit at ``rate`` per minute from now on (the ramp admits 1 a minute, so
    that every fan is still waiting, and connected, when the window starts)."""
    return _patch_event(http, event, {"admission": {"rate_per_minute": rate}})


def close_event(http: httpx.Client, event: BenchEvent) -> bool:
    """End the event's sale now, so that no process keeps admitting into it."""
    return _patch_event(http, event, {"sale": {"closes_at": iso(datetime.now(UTC))}})
