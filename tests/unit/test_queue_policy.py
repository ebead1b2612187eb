"""Waiting-room rules: what a fan is told, ETAs, presence and stalls.

The admission maths has one home, queue/lua/admit.lua, tested in
tests/integration/test_queue_scripts.py (its uncalled Python twin
``policy.advance`` and its tests were removed in issue 12)."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onsale.queue.policy import (
    FanStatus,
    StallSample,
    admission_cap,
    eta_seconds,
    fan_status,
    longest_stall,
    parks,
)
from tests.unit._queue_views import NOW, queue_view

# --------------------------------------------------------------- fan_status()


_view = queue_view


def test_unknown_entry() -> None:
    assert fan_status(_view(number=-1)) is None
    assert fan_status(_view(number=-1, sold_out=True)) is None


def test_prequeue() -> None:
    status = fan_status(_view(number=0, serving=0, drawn=False))
    assert status == FanStatus("prequeue")
    assert status is not None and status.position is None


def test_prequeue_when_sold_out_is_closed() -> None:
    assert fan_status(_view(number=0, sold_out=True)) == FanStatus("closed", reason="sold_out")


def test_waiting_position_ahead_eta() -> None:
    assert fan_status(_view(number=133, serving=10)) == FanStatus(
        "waiting", position=123, ahead=122, eta_seconds=13
    )


def test_waiting_next_in_line() -> None:
    assert fan_status(_view(number=11, serving=10)) == FanStatus(
        "waiting", position=1, ahead=0, eta_seconds=1
    )


def test_waiting_at_slow_rate() -> None:
    assert fan_status(_view(number=15, serving=10, rate_per_minute=2)) == FanStatus(
        "waiting", position=5, ahead=4, eta_seconds=150
    )


def test_admitted_with_live_session() -> None:
    expires = NOW + 600_000
    assert fan_status(_view(number=10, serving=10, session_expires_ms=expires)) == FanStatus(
        "admitted", session_expires_ms=expires
    )
    assert fan_status(_view(number=1, serving=10, session_expires_ms=NOW + 1)) == FanStatus(
        "admitted", session_expires_ms=NOW + 1
    )


def test_admitted_is_kept_even_when_sold_out() -> None:
    # An admitted shopper may be paying for the last seats: the session stands.
    status = fan_status(_view(number=3, session_expires_ms=NOW + 1000, sold_out=True))
    assert status is not None and status.state == "admitted"


def test_session_ended() -> None:
    ended = FanStatus("closed", reason="session_ended")
    assert fan_status(_view(number=10, serving=10, session_expires_ms=NOW)) == ended
    assert fan_status(_view(number=4, serving=10, session_expires_ms=NOW - 1)) == ended
    assert fan_status(_view(number=4, serving=10, session_expires_ms=0)) == ended


def test_waiting_when_sold_out_is_closed() -> None:
    assert fan_status(_view(number=50, serving=10, sold_out=True)) == FanStatus(
        "closed", reason="sold_out"
    )


# -------------------------------------------------------------- eta_seconds()


@pytest.mark.parametrize(
    ("ahead", "rate", "expected"),
    [
        (0, 600, 0),
        (-3, 600, 0),
        (1, 600, 1),
        (10, 600, 1),
        (11, 600, 2),
        (122, 600, 13),
        (1, 1, 60),
        (3, 7, 26),  # 180 / 7 = 25.7 -> 26
        (5, 0, 300),  # a zero rate is treated as one a minute, never a division by zero
        (5, -10, 300),
        (1_000_000, 1_000_000, 60),
    ],
)
def test_eta_seconds(ahead: int, rate: int, expected: int) -> None:
    assert eta_seconds(ahead, rate) == expected


# ------------------------------------------------- shopper presence and stalls


def test_the_stock_cap_counts_only_shoppers_still_there() -> None:
    cap = functools.partial(admission_cap, max_active=60, capacity=60)
    # 24 bought (gone from the shoppers), 36 idle shoppers, 36 places free.
    assert cap(active=36, free=36, holding=0) == 0
    # Parked as gone, they count for nothing: every free place is admittable.
    assert cap(active=0, free=36, holding=0) == 36
    assert cap(active=10, free=36, holding=4) == 30
    assert cap(active=60, free=100, holding=0) == 0  # no free slot
    assert admission_cap(max_active=5, active=2, capacity=0, free=0, holding=0) == 3


def test_who_is_parked() -> None:
    assert parks(seen_ms=NOW - 20_001, now_ms=NOW, grace_ms=20_000, holding=False)
    assert not parks(seen_ms=NOW - 20_000, now_ms=NOW, grace_ms=20_000, holding=False)
    assert not parks(seen_ms=NOW - 10**6, now_ms=NOW, grace_ms=20_000, holding=True)
    assert not parks(seen_ms=0, now_ms=NOW, grace_ms=0, holding=False)


def _samples(*rows: tuple[float, int, int, int]) -> list[StallSample]:
    return [StallSample(*row) for row in rows]


def test_the_longest_stall() -> None:
    assert longest_stall([]) == 0
    stalled = _samples((0, 5, 10, 3), (1, 5, 10, 3), (2, 5, 10, 3), (3, 5, 10, 4), (4, 5, 10, 4))
    assert longest_stall(stalled) == 2  # from 0 to 2; admitted at 3
    # Nothing free, or nobody waiting, is no stall.
    assert longest_stall(_samples((0, 0, 10, 1), (9, 0, 10, 1))) == 0
    assert longest_stall(_samples((0, 5, 0, 1), (9, 5, 0, 1))) == 0
    # A break in the condition starts a new stall.
    broken = _samples((0, 5, 10, 1), (4, 5, 10, 1), (5, 0, 10, 1), (6, 5, 10, 1), (30, 5, 10, 1))
    assert longest_stall(broken) == 24


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), max_size=40))
def test_a_stall_never_outlasts_the_samples(rows: list[tuple[int, int, int]]) -> None:
    samples = [StallSample(float(t), f, w, a) for t, (f, w, a) in enumerate(rows)]
    assert 0 <= longest_stall(samples) <= max(len(rows) - 1, 0)
