"""Durable places: when an access token may bring a session back after Redis
lost the queue, and what the status answer tells a fan about their place."""

from __future__ import annotations

from onsale.queue.messages import standing
from onsale.queue.policy import FanStatus, QueueView, may_restore_session
from tests.unit._queue_views import NOW, queue_view

STARTED = NOW - 60_000  # a session granted a minute ago


def _view(**changes: object) -> QueueView:
    return queue_view(**{"number": 5, **changes})


def test_an_entry_redis_does_not_know_gets_its_session_back() -> None:
    assert may_restore_session(_view(number=-1), STARTED)


def test_a_live_session_is_not_restored_again() -> None:
    assert not may_restore_session(_view(number=-1, session_expires_ms=NOW + 1), STARTED)
    assert not may_restore_session(_view(session_expires_ms=NOW + 1, restored_ms=NOW - 1), STARTED)


def test_a_known_entry_without_a_loss_really_ended_its_session() -> None:
    assert not may_restore_session(_view(restored_ms=0), STARTED)


def test_a_session_granted_before_the_restore_comes_back() -> None:
    assert may_restore_session(_view(restored_ms=STARTED + 1), STARTED)


def test_a_session_granted_after_the_restore_is_known_to_redis() -> None:
    assert not may_restore_session(_view(restored_ms=STARTED), STARTED)
    assert not may_restore_session(_view(restored_ms=STARTED - 5_000), STARTED)


def test_standing_tells_the_number_and_the_sold_out_outlook_while_waiting() -> None:
    waiting = FanStatus(
        "waiting", position=3, ahead=2, eta_seconds=1, number=13, likely_sold_out=False
    )
    assert standing(waiting) == {
        "state": "waiting",
        "position": 3,
        "ahead": 2,
        "eta_seconds": 1,
        "eta_p90_seconds": None,
        "likely_sold_out": False,
        "number": 13,
    }


def test_standing_tells_an_admitted_fan_the_number_only() -> None:
    admitted = FanStatus("admitted", session_expires_ms=NOW, number=4)
    assert standing(admitted) == {"state": "admitted", "position": None, "number": 4}


def test_standing_of_a_closed_or_prequeue_fan_is_unchanged() -> None:
    closed = FanStatus("closed", reason="away", number=7)
    assert standing(closed) == {"state": "closed", "position": None, "reason": "away"}
    assert standing(FanStatus("prequeue")) == {"state": "prequeue", "position": None}
