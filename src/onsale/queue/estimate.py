"""Honest wait estimates: from the admission rate measured over the last
minutes, not from the configured one, so they do not rise as people leave.

The serving number advances past fans who left (they are skipped), so its
measured speed already includes abandonment: the wait of a fan ``position``
places from the front is ``position / speed``. The p90 uses the slow end of the
measured speeds. Pure code: the samples carry their own times.

When every place left is held, nobody can be admitted until a hold ends, and
holds end at known times: the wait is at least until the earliest one runs
out (``release_wait``), and held places still count as places that may come
back (``likely_sold_out``), since a hold neither bought nor released returns.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

WINDOW_SECONDS = 300.0
BUCKET_SECONDS = 10.0
# Below this many seconds of history the configured rate is trusted instead.
MIN_HISTORY_SECONDS = 5.0


@dataclass
class RateMeter:
    """Samples of (time, serving number) of one event, the last five minutes."""

    samples: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, t: float, serving: int) -> None:
        if self.samples and serving < self.samples[-1][1]:
            self.samples.clear()  # the queue was reset (Redis lost its data)
        self.samples.append((t, serving))
        while self.samples and self.samples[0][0] < t - WINDOW_SECONDS:
            self.samples.popleft()

    def speed(self) -> float | None:
        """Numbers served per second over the window, or None without history."""
        if len(self.samples) < 2:
            return None
        (t0, s0), (t1, s1) = self.samples[0], self.samples[-1]
        if t1 - t0 < MIN_HISTORY_SECONDS:
            return None
        return (s1 - s0) / (t1 - t0)

    def speeds(self) -> tuple[float | None, float | None]:
        return self.speed(), self.slow_speed()

    def slow_speed(self) -> float | None:
        """The 10th percentile of the speeds of 10-second buckets."""
        speeds: list[float] = []
        start_t, start_s = self.samples[0] if self.samples else (0.0, 0)
        for t, s in self.samples:
            if t - start_t >= BUCKET_SECONDS:
                speeds.append((s - start_s) / (t - start_t))
                start_t, start_s = t, s
        if len(speeds) < 3:
            return None
        speeds.sort()
        return speeds[len(speeds) // 10]


@dataclass(frozen=True)
class Estimate:
    eta_seconds: int
    eta_p90_seconds: int


Speeds = tuple[float | None, float | None]  # (speed, slow speed) of a RateMeter


def estimate(
    position: int, speeds: Speeds, configured_per_minute: int, release_wait: int = 0
) -> Estimate:
    """The wait of the fan ``position`` places from the front, given the
    meter's ``speeds()`` (taken once per tick, not once per fan), and at
    least ``release_wait`` (see :func:`release_wait`)."""
    speed, slow = _usable(speeds, configured_per_minute)
    eta = math.ceil(position / speed) if position > 0 else 0
    p90 = math.ceil(position / slow) if slow else math.ceil(eta * 1.25)
    if position > 0:
        eta = max(eta, release_wait)
    return Estimate(eta, max(p90, eta))


def release_wait(*, free: int, held: int, next_release_ms: int, now_ms: int) -> int:
    """Seconds until the earliest hold runs out when every place left is held
    (nobody is admitted before a place comes back); 0 otherwise."""
    if free > 0 or held <= 0 or next_release_ms <= 0:
        return 0
    return max(math.ceil((next_release_ms - now_ms) / 1000), 0)


# Slower than one admission an hour is no measurement to divide by (a wait
# of years, or an overflow): below it the configured rate and the 1.25 margin
# are used instead.
MIN_SPEED = 1 / 3600


def _usable(speeds: Speeds, configured_per_minute: int) -> tuple[float, float | None]:
    speed, slow = speeds
    if speed is None or speed < MIN_SPEED:
        speed = max(configured_per_minute, 1) / 60
    return speed, slow if slow is not None and slow >= MIN_SPEED else None


def likely_sold_out(
    *, ahead: int, remaining: int, tickets_per_order: float, abandon_share: float, held: int = 0
) -> bool:
    """True when the fans ahead, as many as will stay, are expected to buy
    every remaining place: the free ones (``remaining``) and the ``held``
    ones, which come back if their holders do not buy."""
    left = remaining + max(held, 0)
    if left <= 0:
        return True
    return ahead * places_per_fan_ahead(tickets_per_order, abandon_share) >= left


def places_per_fan_ahead(tickets_per_order: float, abandon_share: float) -> float:
    """Places one fan ahead is expected to buy: those who stay buy an order."""
    return (1 - min(max(abandon_share, 0.0), 1.0)) * max(tickets_per_order, 1.0)


@dataclass(frozen=True)
class Outlook:
    """What every waiting fan's estimate shares in one tick, worked out once
    per tick so that each fan costs two divisions and a comparison."""

    speed: float  # numbers served per second (measured, else configured)
    slow: float | None  # the slow end of the measured speeds
    remaining: int  # places neither sold nor held
    per_fan_ahead: float  # see places_per_fan_ahead
    held: int = 0  # places held: they come back unless bought
    release_wait: int = 0  # see release_wait

    @classmethod
    def of(
        cls,
        speeds: Speeds,
        configured_per_minute: int,
        *,
        remaining: int,
        tickets_per_order: float,
        abandon_share: float,
        held: int = 0,
        release_wait: int = 0,
    ) -> Outlook:
        speed, slow = _usable(speeds, configured_per_minute)
        return cls(
            speed,
            slow,
            remaining,
            places_per_fan_ahead(tickets_per_order, abandon_share),
            max(held, 0),
            release_wait,
        )

    def eta(self, position: int) -> tuple[int, int]:
        """(eta, p90) in seconds, as ``estimate`` gives them."""
        if position <= 0:
            return 0, 0
        eta = math.ceil(position / self.speed)
        p90 = math.ceil(position / self.slow) if self.slow else math.ceil(eta * 1.25)
        eta = max(eta, self.release_wait)
        return eta, max(p90, eta)

    def sold_out_before(self, position: int) -> bool:
        """``likely_sold_out`` for the fan at ``position``."""
        left = self.remaining + self.held
        return left <= 0 or (position - 1) * self.per_fan_ahead >= left


class Figures(Protocol):
    """What an outlook reads of a queue: a push's snapshot (store.Snapshot) or
    a status poll's view (policy.QueueView) alike."""

    @property
    def capacity(self) -> int: ...
    @property
    def sold(self) -> int: ...
    @property
    def held(self) -> int: ...
    @property
    def orders(self) -> int: ...
    @property
    def abandoned(self) -> int: ...
    @property
    def serving(self) -> int: ...
    @property
    def rate_per_minute(self) -> int: ...
    @property
    def next_release_ms(self) -> int: ...
    @property
    def now_ms(self) -> int: ...


def outlook(figures: Figures, speeds: Speeds) -> Outlook:
    """The one outlook of a queue (ETA, p90, likely sold out, the wait for a
    hold to end), used by the websocket push and the status poll alike."""
    free = max(figures.capacity - figures.sold - figures.held, 0)
    return Outlook.of(
        speeds,
        figures.rate_per_minute,
        remaining=free,
        tickets_per_order=figures.sold / figures.orders if figures.orders else 2.0,
        abandon_share=figures.abandoned / figures.serving if figures.serving else 0.0,
        held=figures.held,
        release_wait=release_wait(
            free=free,
            held=figures.held,
            next_release_ms=figures.next_release_ms,
            now_ms=figures.now_ms,
        ),
    )


@dataclass
class Meters:
    """One RateMeter per event, shared by the status poll and the push. Fed
    by the admission step, the one place this process sees the serving
    number move."""

    meters: dict[str, RateMeter] = field(default_factory=dict)

    def add(self, event_id: str, t: float, serving: int) -> None:
        self.meters.setdefault(event_id, RateMeter()).add(t, serving)

    def speeds(self, event_id: str) -> Speeds:
        meter = self.meters.get(event_id)
        return meter.speeds() if meter is not None else (None, None)
