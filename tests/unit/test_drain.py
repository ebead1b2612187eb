"""The drain's plan (onsale.drain) and its settings."""

from __future__ import annotations

import pytest

from onsale import drain
from onsale.settings import Settings, SettingsError, from_env


def test_batches_spread_every_fan_evenly() -> None:
    plan = drain.batches(100, spread=5.0, interval=0.25)
    assert sum(plan) == 100
    assert len(plan) == 21  # one at once, then one every 0.25 s for 5 s
    assert max(plan) - min(plan) <= 1


def test_few_fans_take_few_batches() -> None:
    assert drain.batches(3, spread=5.0) == [1, 1, 1]
    assert drain.batches(0, spread=5.0) == []
    assert drain.batches(7, spread=0.0) == [7]  # no spread: one batch


def test_the_drain_leaves_the_rest_of_its_bound_to_requests_in_flight() -> None:
    s = Settings(drain_seconds=25, drain_wait_seconds=2, drain_spread_seconds=5)
    assert drain.graceful_timeout(s) == 25 - 2 - 5 - drain.SHUTDOWN_MARGIN_SECONDS
    assert drain.graceful_timeout(Settings(drain_seconds=0)) is None


def test_drain_settings_must_fit_their_bound() -> None:
    s = from_env({"ONSALE_DRAIN_SECONDS": "10", "ONSALE_DRAIN_SPREAD_SECONDS": "3"})
    assert (s.drain_seconds, s.drain_wait_seconds, s.drain_spread_seconds) == (10, 2, 3)
    with pytest.raises(SettingsError, match="ONSALE_DRAIN_SECONDS"):
        from_env({"ONSALE_DRAIN_SECONDS": "5", "ONSALE_DRAIN_SPREAD_SECONDS": "4"})
    with pytest.raises(SettingsError, match="negative"):
        from_env({"ONSALE_DRAIN_WAIT_SECONDS": "-1"})
    assert from_env({"ONSALE_DRAIN_SECONDS": "0"}).drain_seconds == 0


def test_migrations_at_start_can_be_left_to_a_direct_connection() -> None:
    """Behind PgBouncer in transaction mode the nodes do not migrate
    (deploy/pgbouncer/pgbouncer.ini): ``onsale db upgrade`` does, directly."""
    assert from_env({}).migrate_on_start is True
    assert from_env({"ONSALE_MIGRATE_ON_START": "false"}).migrate_on_start is False
