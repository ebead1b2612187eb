"""Waiting-room rules: admission maths, the pre-queue draw, what a fan is told."""

from __future__ import annotations

import functools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onsale.queue.policy import (
    MAX_GAP_MS,
    Advance,
    FanStatus,
    StallSample,
    admission_cap,
    advance,
    eta_seconds,
    fan_status,
    longest_stall,
    parks,
)
from tests.unit._queue_views import NOW, queue_view

# ---------------------------------------------------------------- advance()


def _adv(
    rate: int = 600,
    elapsed: int = 1000,
    carry: float = 0.0,
    free: int = 10**6,
    waiting: int = 10**6,
) -> Advance:
    return advance(
        rate_per_minute=rate, elapsed_ms=elapsed, carry=carry, free_slots=free, waiting=waiting
    )


def test_rate_times_elapsed() -> None:
    assert _adv(rate=600, elapsed=1000) == Advance(10, 0.0)
    assert _adv(rate=600, elapsed=1500) == Advance(15, 0.0)
    assert _adv(rate=60, elapsed=5_000) == Advance(5, 0.0)
    assert _adv(rate=6000, elapsed=250) == Advance(25, 0.0)


def test_a_pause_gives_no_burst() -> None:
    # A minute without a step (processes down, Redis stalled) counts as five
    # seconds: the fans behind are let in at the rate, not all at once.
    assert _adv(rate=60, elapsed=60_000) == Advance(5, 0.0)
    assert _adv(rate=600, elapsed=10_000) == _adv(rate=600, elapsed=MAX_GAP_MS)


def test_fraction_is_carried_to_the_next_step() -> None:
    first = _adv(rate=60, elapsed=500)
    assert first == Advance(0, 0.5)
    second = _adv(rate=60, elapsed=500, carry=first.carry)
    assert second == Advance(1, 0.0)


def test_carry_adds_to_budget() -> None:
    assert _adv(rate=600, elapsed=1000, carry=2.5) == Advance(12, 0.5)


def test_capped_by_free_slots_and_unused_budget_carried() -> None:
    assert _adv(rate=600, elapsed=1000, free=3) == Advance(3, 7.0)


def test_capped_by_waiting_fans() -> None:
    assert _adv(rate=600, elapsed=1000, waiting=2) == Advance(2, 8.0)


def test_no_free_slots_admits_nobody() -> None:
    assert _adv(rate=600, elapsed=500, free=0) == Advance(0, 5.0)


def test_carry_capped_at_one_seconds_worth() -> None:
    # A minute of budget with nobody able to enter banks only 1 s (600/min -> 10).
    assert _adv(rate=600, elapsed=60_000, free=0) == Advance(0, 10.0)
    assert _adv(rate=600, elapsed=60_000, waiting=0) == Advance(0, 10.0)
    assert _adv(rate=6000, elapsed=60_000, free=5) == Advance(5, 100.0)


def test_slow_rate_carry_cap_is_one_admission() -> None:
    # Below 60/min one second's worth is < 1 fan; the cap is one so slow queues still move.
    assert _adv(rate=30, elapsed=60_000, free=0) == Advance(0, 1.0)
    assert _adv(rate=30, elapsed=0, carry=1.0) == Advance(1, 0.0)


def test_never_negative() -> None:
    assert _adv(elapsed=-5000) == Advance(0, 0.0)
    negative_time = _adv(elapsed=-5000, carry=3.2)
    assert negative_time.admitted == 3
    assert negative_time.carry == pytest.approx(0.2)
    assert _adv(free=-4) == Advance(0, 10.0)
    assert _adv(waiting=-7) == Advance(0, 10.0)
    assert _adv(elapsed=0) == Advance(0, 0.0)


def test_second_call_with_no_elapsed_time_admits_nobody() -> None:
    first = _adv(rate=600, elapsed=2300, carry=0.4, free=50, waiting=100)
    assert first.admitted == 23
    second = _adv(
        rate=600, elapsed=0, carry=first.carry, free=50 - first.admitted, waiting=100 - 23
    )
    assert second.admitted == 0
    assert second.carry == pytest.approx(first.carry)


def test_long_run_exact_at_steady_rate() -> None:
    carry, total = 0.0, 0
    for _ in range(100):  # 10 s of 100 ms ticks at 90/min -> exactly 15
        step = _adv(rate=90, elapsed=100, carry=carry)
        total, carry = total + step.admitted, step.carry
    assert total == 15


_rates = st.integers(min_value=1, max_value=100_000)


@settings(max_examples=300, deadline=None, database=None)
@given(
    rate=_rates,
    elapsed=st.integers(min_value=-1000, max_value=10**7),
    carry_frac=st.floats(min_value=0, max_value=1),
    free=st.integers(min_value=-5, max_value=10**6),
    waiting=st.integers(min_value=-5, max_value=10**6),
)
def test_property_single_step(
    rate: int, elapsed: int, carry_frac: float, free: int, waiting: int
) -> None:
    cap = max(1.0, rate / 60)
    carry = carry_frac * cap
    result = _adv(rate=rate, elapsed=elapsed, carry=carry, free=free, waiting=waiting)
    budget = carry + rate * max(elapsed, 0) / 60000
    assert result.admitted >= 0
    assert result.carry >= 0
    assert result.admitted <= max(free, 0)
    assert result.admitted <= max(waiting, 0)
    assert result.admitted <= budget
    assert result.carry <= cap
    assert result.admitted + result.carry <= budget + 1e-9
    # Calling again at once (no time passed, the state updated) admits nobody extra.
    again = _adv(
        rate=rate,
        elapsed=0,
        carry=result.carry,
        free=max(free, 0) - result.admitted,
        waiting=max(waiting, 0) - result.admitted,
    )
    assert again.admitted == 0


@settings(max_examples=150, deadline=None, database=None)
@given(
    rate=_rates,
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=5000),  # elapsed ms
            st.integers(min_value=0, max_value=500),  # free slots at that step
        ),
        min_size=1,
        max_size=60,
    ),
)
def test_property_long_run_never_exceeds_rate_times_time_plus_cap(
    rate: int, steps: list[tuple[int, int]]
) -> None:
    cap = max(1.0, rate / 60)
    carry, total, elapsed_total = cap, 0, 0  # start with a full bank: the worst case
    for elapsed, free in steps:
        result = _adv(rate=rate, elapsed=elapsed, carry=carry, free=free)
        total += result.admitted
        carry = result.carry
        elapsed_total += elapsed
        assert total <= rate * elapsed_total / 60000 + cap + 1e-6


@settings(max_examples=100, deadline=None, database=None)
@given(
    rate=st.integers(min_value=1, max_value=10_000),
    ticks=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=50),
)
def test_property_unconstrained_admits_the_whole_budget(rate: int, ticks: list[int]) -> None:
    carry, total = 0.0, 0
    for elapsed in ticks:
        result = _adv(rate=rate, elapsed=elapsed, carry=carry)
        total, carry = total + result.admitted, result.carry
    exact = rate * sum(ticks) / 60000
    # Float rounding may lose at most one admission against the exact figure.
    assert math.floor(exact) - 1 <= total <= exact + 1e-9


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
