"""What the load scripts share: a free loopback port, the `onsale serve`
command, times as API.md writes them, and the event they put on sale (one
category, GA and seated sections)."""

from __future__ import annotations

import socket
import sys
from datetime import UTC, datetime, timedelta
from typing import Any


def serve_command(port: int, workers: int = 1) -> list[str]:
    """``onsale serve`` on a loopback port, with this interpreter."""
    return [
        sys.executable, "-m", "onsale.cli", "serve", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def event_body(
    name: str,
    *,
    admission: dict[str, int],
    ga: int,
    seated_rows: int = 0,
    seats_per_row: int = 20,
    opens_in: float = -60,
    closes_in: timedelta = timedelta(days=9),
    hold_seconds: int = 600,
) -> dict[str, Any]:
    """An event whose pre-queue opened an hour ago and whose sale opens in
    ``opens_in`` seconds (in the past: on sale now), with ``ga`` general
    admission places and ``seated_rows`` rows of ``seats_per_row`` seats."""
    now = datetime.now(UTC)
    sections: list[dict[str, Any]] = [
        {"code": "FLOOR", "kind": "ga", "category": "STD", "capacity": ga}
    ]
    if seated_rows:
        sections.append(
            {
                "code": "BALC",
                "kind": "seated",
                "category": "STD",
                "rows": [{"row": f"R{i}", "seats": seats_per_row} for i in range(seated_rows)],
            }
        )
    return {
        "name": name,
        "starts_at": iso(now + timedelta(days=10)),
        "sale": {
            "prequeue_opens_at": iso(now - timedelta(hours=1)),
            "opens_at": iso(now + timedelta(seconds=opens_in)),
            "closes_at": iso(now + closes_in),
        },
        "admission": admission,
        "hold_seconds": hold_seconds,
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
        "sections": sections,
    }


def server_longest_stall(url: str, event_id: str, metrics_token: str = "") -> float | None:
    """The event's longest queue stall so far (places free, fans waiting,
    nobody admitted), in seconds, as the server's admission measured it
    (``onsale_queue_longest_stall_seconds``); None when /metrics cannot say."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"Authorization": f"Bearer {metrics_token}"} if metrics_token else {}
    try:
        r = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    values = [
        sample.value
        for family in text_string_to_metric_families(r.text)
        if family.name == "onsale_queue_longest_stall_seconds"
        for sample in family.samples
        if sample.labels.get("event_id") == event_id
    ]
    return max(values) if values else None


def stall_problems(longest: float | None, bound: float) -> list[str]:
    """The verdict's complaint about a stall longer than ``bound`` seconds
    (0: no bound)."""
    if bound > 0 and longest is not None and longest > bound:
        return [f"the queue stalled {longest:.0f} s with places free (bound {bound:.0f} s)"]
    return []
