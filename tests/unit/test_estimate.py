"""Wait estimates from the measured admission speed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from onsale.queue.estimate import (
    Estimate,
    Outlook,
    RateMeter,
    estimate,
    likely_sold_out,
    release_wait,
)


def _meter(speeds: list[float], step: float = 1.0) -> RateMeter:
    meter = RateMeter()
    t, served = 0.0, 0.0
    meter.add(t, 0)
    for speed in speeds:
        t += step
        served += speed * step
        meter.add(t, int(served))
    return meter


def test_without_history_the_configured_rate_is_used() -> None:
    est = estimate(100, RateMeter().speeds(), configured_per_minute=600)
    assert est.eta_seconds == 10
    assert est.eta_p90_seconds == 13  # 25 % margin until speeds are measured


def test_measured_speed_wins_over_the_configured_rate() -> None:
    meter = _meter([20.0] * 30)  # fans who leave are skipped: serving runs faster
    est = estimate(100, meter.speeds(), configured_per_minute=600)
    assert est.eta_seconds == 5


def test_p90_uses_the_slow_end_of_the_measured_speeds() -> None:
    meter = _meter([10.0] * 30 + [2.0] * 20 + [10.0] * 30)
    est = estimate(100, meter.speeds(), configured_per_minute=600)
    assert est.eta_p90_seconds > est.eta_seconds
    assert est.eta_p90_seconds == 50  # 100 places at the slowest bucket's 2/s


def test_the_front_of_the_queue_waits_nothing() -> None:
    assert estimate(0, _meter([5.0] * 10).speeds(), 60).eta_seconds == 0


def test_a_reset_queue_restarts_the_meter() -> None:
    meter = _meter([10.0] * 10)
    meter.add(11.0, 3)
    assert len(meter.samples) == 1


def test_old_samples_leave_the_window() -> None:
    meter = _meter([1.0] * 400)
    assert meter.samples[0][0] >= 400 - 300


def test_likely_sold_out() -> None:
    assert likely_sold_out(ahead=100, remaining=150, tickets_per_order=2, abandon_share=0.1)
    assert not likely_sold_out(ahead=100, remaining=150, tickets_per_order=2, abandon_share=0.5)
    assert likely_sold_out(ahead=0, remaining=0, tickets_per_order=2, abandon_share=0)
    assert not likely_sold_out(ahead=0, remaining=1, tickets_per_order=2, abandon_share=0)


speeds = st.one_of(st.none(), st.floats(-1, 500, allow_nan=False))


@given(
    position=st.integers(-5, 100_000),
    speeds=st.tuples(speeds, speeds),
    configured=st.integers(0, 100_000),
    remaining=st.integers(-10, 200_000),
    per_order=st.floats(0, 10, allow_nan=False),
    abandon=st.floats(-1, 2, allow_nan=False),
    held=st.integers(-5, 1000),
    wait=st.integers(0, 600),
)
def test_the_per_tick_outlook_says_what_the_per_fan_functions_say(
    position: int,
    speeds: tuple[float | None, float | None],
    configured: int,
    remaining: int,
    per_order: float,
    abandon: float,
    held: int,
    wait: int,
) -> None:
    view = Outlook.of(
        speeds,
        configured,
        remaining=remaining,
        tickets_per_order=per_order,
        abandon_share=abandon,
        held=held,
        release_wait=wait,
    )
    est = estimate(position, speeds, configured, wait)
    assert view.eta(position) == (est.eta_seconds, est.eta_p90_seconds)
    assert view.sold_out_before(position) == likely_sold_out(
        ahead=position - 1,
        remaining=remaining,
        tickets_per_order=per_order,
        abandon_share=abandon,
        held=held,
    )


def test_a_speed_too_slow_to_divide_by_falls_back_to_the_configured_rate() -> None:
    # 2.2e-313 numbers a second would be a wait past any integer.
    assert estimate(10, (None, 2.2e-313), 60) == estimate(10, (None, None), 60)
    assert estimate(10, (1e-9, None), 60).eta_seconds == 10


def test_when_every_place_left_is_held_the_wait_is_for_the_first_hold_to_end() -> None:
    wait = release_wait(free=0, held=3, next_release_ms=91_500, now_ms=1_000)
    assert wait == 91
    assert release_wait(free=1, held=3, next_release_ms=91_500, now_ms=1_000) == 0
    assert release_wait(free=0, held=0, next_release_ms=0, now_ms=1_000) == 0
    assert release_wait(free=0, held=2, next_release_ms=500, now_ms=1_000) == 0  # due now
    # The front of the queue waits for the hold, not for the rate.
    assert estimate(1, (None, None), 600, wait) == Estimate(91, 91)
    assert estimate(0, (None, None), 600, wait) == Estimate(0, 0)
    view = Outlook.of(
        (None, None),
        600,
        remaining=0,
        tickets_per_order=1,
        abandon_share=0,
        held=3,
        release_wait=wait,
    )
    assert view.eta(1) == (91, 91)


def test_held_places_may_come_back_so_the_front_is_not_told_it_is_over() -> None:
    assert likely_sold_out(ahead=0, remaining=0, tickets_per_order=1, abandon_share=0)
    assert not likely_sold_out(ahead=0, remaining=0, tickets_per_order=1, abandon_share=0, held=3)
    assert not likely_sold_out(ahead=2, remaining=0, tickets_per_order=1, abandon_share=0, held=3)
    assert likely_sold_out(ahead=3, remaining=0, tickets_per_order=1, abandon_share=0, held=3)
