"""Pure rules of the waiting room: what a fan is told, and the caps and
presence rules of admission (the admission rate itself is computed in
``lua/admit.lua`` only).
The clock is an argument. (The pre-queue draw is in ``draw.py``.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

State = Literal["prequeue", "waiting", "admitted", "closed"]


def admission_cap(*, max_active: int, active: int, capacity: int, free: int, holding: int) -> int:
    """How many fans the caps of ``lua/admit.lua`` let in, whatever the rate:
    the free shopper slots and, when the event has a capacity, the ``free``
    places (neither held nor sold) less the shoppers who hold nothing yet
    (each may buy one). ``active`` counts the shoppers still there: with
    shopper presence, those unseen past the grace who hold nothing were
    parked (:func:`parks`) and count for nothing."""
    cap = max(max_active - active, 0)
    if capacity > 0:
        idle = max(active - holding, 0)
        cap = min(cap, max(free - idle, 0))
    return cap


def parks(*, seen_ms: int, now_ms: int, grace_ms: int, holding: bool) -> bool:
    """Whether admission parks an admitted shopper as gone: unseen for longer
    than the shopper grace and holding nothing (a holder counts whatever)."""
    return grace_ms > 0 and not holding and seen_ms < now_ms - grace_ms


@dataclass(frozen=True)
class StallSample:
    """One look at a sale: ``t`` seconds (any clock), places ``free`` (neither
    held nor sold), fans ``waiting`` and fans ``admitted`` so far."""

    t: float
    free: int
    waiting: int
    admitted: int


def longest_stall(samples: Iterable[StallSample]) -> float:
    """The longest span (seconds) during which places were free, fans were
    waiting and nobody was admitted, from samples in time order: a stall runs
    from the first sample that shows it to the last one before a fan is
    admitted, a place stops being free or nobody waits any more."""
    longest = 0.0
    start: StallSample | None = None
    for s in samples:
        if s.free <= 0 or s.waiting <= 0:
            start = None
        elif start is None or s.admitted != start.admitted:
            start = s
        else:
            longest = max(longest, s.t - start.t)
    return longest


@dataclass(frozen=True)
class QueueView:
    """One fan's raw standing, as ``lua/status.lua`` reads it."""

    number: int  # -1 unknown entry, 0 in the pre-queue
    serving: int
    next: int
    session_expires_ms: int
    now_ms: int
    sold_out: bool
    drawn: bool
    rate_per_minute: int
    skipped: bool = False  # passed over at admission while away
    restored_ms: int = 0  # when restored after Redis lost it (Redis clock), 0 never
    capacity: int = 0
    sold: int = 0
    held: int = 0
    orders: int = 0  # paid orders
    abandoned: int = 0  # fans skipped as away so far
    lost_serving: int = 0  # serving number restored after a loss (0 never)
    band_from: int = 0  # numbers above it, up to lost_serving: admitted just before
    next_release_ms: int = 0  # when the earliest hold runs out (0: nothing held)


@dataclass(frozen=True)
class FanStatus:
    state: State
    position: int | None = None
    ahead: int | None = None
    eta_seconds: int | None = None
    eta_p90_seconds: int | None = None
    session_expires_ms: int | None = None
    reason: str | None = None
    number: int | None = None  # the fan's queue number: it never changes
    likely_sold_out: bool | None = None
    # Every place left is held: seconds until the earliest hold runs out.
    next_release_seconds: int | None = None


def eta_seconds(ahead: int, rate_per_minute: int) -> int:
    """Seconds until ``ahead`` fans have been admitted at the configured rate."""
    if ahead <= 0:
        return 0
    return math.ceil(ahead * 60 / max(rate_per_minute, 1))


def fan_status(view: QueueView) -> FanStatus | None:
    """What a fan is told, or None when the entry is unknown."""
    if view.number < 0:
        return None
    if view.number == 0:
        if view.sold_out:
            return FanStatus("closed", reason="sold_out")
        return FanStatus("prequeue")
    if view.number <= view.serving:
        if view.session_expires_ms > view.now_ms:
            return FanStatus("admitted", session_expires_ms=view.session_expires_ms)
        # Skipped while away: joining again with the same token lines up anew.
        return FanStatus("closed", reason="away" if view.skipped else "session_ended")
    if view.sold_out:
        return FanStatus("closed", reason="sold_out")
    position = view.number - view.serving
    return FanStatus(
        "waiting",
        position=position,
        ahead=position - 1,
        eta_seconds=eta_seconds(position, view.rate_per_minute),
    )


def may_restore_session(view: QueueView, session_started_ms: int) -> bool:
    """Whether an access token whose session started at ``session_started_ms``
    may bring that session back: only when Redis cannot know that it ended,
    because it lost the entry or was restored after the session began."""
    if view.session_expires_ms > view.now_ms:
        return False  # the session is there
    if view.number < 0:
        return True
    # Granted before the restore: Redis lost whether it ended. (An access token
    # tells the start to the second, rounded down.)
    return session_started_ms < view.restored_ms


def admitted_just_before_the_loss(view: QueueView) -> bool:
    """A fan admitted in the last moments before Redis lost its data, now
    without a session: they may never have been told (``lua/regrant.lua``
    decides, once)."""
    return (
        view.restored_ms > 0
        and view.band_from < view.number <= view.lost_serving
        and view.session_expires_ms <= view.now_ms
        and not view.skipped
    )
