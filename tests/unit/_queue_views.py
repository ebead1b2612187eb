"""A fan's raw standing for the queue's unit tests, with what a test changes."""

from __future__ import annotations

from dataclasses import replace

from onsale.queue.policy import QueueView

NOW = 1_700_000_000_000  # Redis' clock in the views below (ms)


def queue_view(**changes: object) -> QueueView:
    """Fan number 50 while 10 is served: waiting, the queue drawn, no session."""
    base = QueueView(
        number=50,
        serving=10,
        next=100,
        session_expires_ms=0,
        now_ms=NOW,
        sold_out=False,
        drawn=True,
        rate_per_minute=600,
    )
    return replace(base, **changes)  # type: ignore[arg-type]
