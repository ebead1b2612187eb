"""bench_ws.py's pure parts: what a client process counts per message, and the
report made of the clients' counts and the server's samples."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from ws_report import (
    Run,
    ServerSample,
    Setup,
    lag_report,
    merge_ticks,
    pass_report,
    percentile,
    report,
    ticks_report,
)
from ws_tally import Tally, ts_of


def _status(ts: int | None, position: int = 5) -> str:
    body: dict[str, Any] = {"type": "status", "position": position}
    if ts is not None:
        body["ts"] = ts
    return json.dumps(body, separators=(",", ":"))


def test_percentile_of_a_histogram_of_milliseconds() -> None:
    hist = Counter({1: 50, 2: 40, 10: 9, 500: 1})
    assert percentile(hist, 0.5) == 1
    assert percentile(hist, 0.9) == 2
    assert percentile(hist, 0.99) == 10
    assert percentile(hist, 1.0) == 500
    assert percentile(Counter(), 0.5) is None
    assert percentile(Counter({7: 1}), 0.0) == 7  # rank at least 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_status(1700000000123), 1700000000123),
        ('{"type":"status","ts": 42 }', 42),
        ('{"ts":42,"type":"status","position":3}', 42),  # not last: parsed as JSON
        (_status(None), None),
        ('{"type":"status","ts":"soon"}', None),
    ],
)
def test_ts_is_read_from_the_end_or_from_the_json(text: str, expected: int | None) -> None:
    assert ts_of(text) == expected


def test_a_tally_counts_status_messages_in_the_window_only() -> None:
    tally = Tally(fans=2, t_start=100.0, t_stop=110.0)
    assert not tally.record(_status(99_000), 99.5)  # before the window
    assert not tally.record(_status(100_000), 100.02)  # 20 ms late
    assert not tally.record(_status(100_000), 100.05)  # same tick, 50 ms late
    assert not tally.record(_status(101_000).encode(), 101.01)  # bytes too
    assert not tally.record(_status(None), 102.0)
    assert not tally.record(_status(109_000), 110.0)  # the window's end is out
    assert tally.status == 4 and tally.untimed == 1
    assert tally.lag_ms == Counter({20: 1, 50: 1, 10: 1})
    assert tally.ticks == {100_000: [100_020, 100_050, 2], 101_000: [101_010, 101_010, 1]}


def test_a_clock_ahead_of_the_server_gives_zero_lag_not_negative() -> None:
    tally = Tally(fans=1, t_start=0.0, t_stop=10.0)
    tally.record(_status(5_100), 5.0)
    assert tally.lag_ms == Counter({0: 1})


def test_admitted_and_closed_are_a_fans_last_messages() -> None:
    tally = Tally(fans=3, t_start=10.0, t_stop=20.0)
    assert tally.record('{"type":"admitted","access_token":"x"}', 5.0)
    assert tally.record('{"type":"admitted","access_token":"y"}', 15.0)
    assert tally.record('{"type":"closed","reason":"sold_out"}', 16.0)
    assert not tally.record('{"type":"hello"}', 16.0)
    assert (tally.admitted, tally.admitted_all_run, tally.closed_all_run) == (1, 2, 1)


def test_the_ramp_is_done_when_every_fan_settled() -> None:
    tally = Tally(fans=2)
    tally.settle()
    assert not tally.ramp_done.is_set()
    tally.settle()
    assert tally.ramp_done.is_set()


def test_ticks_merge_across_clients_and_give_arrival_and_period() -> None:
    merged = merge_ticks(
        [
            {"ticks": {1000: [1010, 1030, 2], 2000: [2005, 2005, 1]}},
            {"ticks": {1000: [1005, 1050, 3]}},
            {},
        ]
    )
    assert merged == {1000: [1005, 1050, 5], 2000: [2005, 2005, 1]}
    r = ticks_report(merged)
    assert r["ticks"] == 2
    assert (r["first_arrival_ms_p50"], r["first_arrival_ms_max"]) == (5, 5)
    assert (r["arrival_spread_ms_p50"], r["arrival_spread_ms_max"]) == (0, 45)
    assert r["period_ms_p50"] == 1000 and r["messages_per_tick_p50"] == 1
    assert ticks_report({})["period_ms_max"] is None


def test_the_lag_report() -> None:
    assert lag_report(Counter({3: 98, 40: 1, 900: 1})) == {
        "samples": 100,
        "p50": 3,
        "p90": 3,
        "p99": 40,
        "max": 900,
    }
    assert lag_report(Counter())["max"] is None


PASS = "onsale_ws_push_pass_seconds"


def _sample(at: float, rss: int, cpu: float, **metrics: float) -> ServerSample:
    return ServerSample(at, (10, 11), rss, cpu, dict(metrics))


def _metrics(passes: float, total: float, le_01: float, le_1: float, pushed: float) -> Any:
    return {
        f"{PASS}_count": passes,
        f"{PASS}_sum": total,
        f'{PASS}_bucket{{le="0.1"}}': le_01,
        f'{PASS}_bucket{{le="1.0"}}': le_1,
        'onsale_ws_messages_pushed_total{kind="status"}': pushed,
        "onsale_ws_messages_pushed_total": pushed,
        "onsale_ws_connections": 1000.0,
    }


def _run() -> Run:
    before = ServerSample(0.0, (10, 11), 100 * 1024, 1.0, {})
    start = ServerSample(100.0, (10, 11), 150 * 1024, 5.0, _metrics(10, 0.5, 10, 10, 5000))
    stop = ServerSample(110.0, (10, 11), 151 * 1024, 9.0, _metrics(20, 2.5, 15, 20, 15000))
    ready = [{"connected": 600, "failures": {"join: x": 2}}, {"connected": 400, "failures": {}}]
    done = [
        {
            "open_at_start": 600,
            "status": 6000,
            "untimed": 1,
            "admitted": 5,
            "admitted_all_run": 6,
            "lag_ms": {3: 10, 8: 2},
            "ticks": {1000: [1003, 1008, 12]},
            "server_closes": {"1000": 1},
            "cpu_window": 1.5,
            "cpu_all_run": 4.0,
        },
        {"open_at_start": 400, "status": 4000, "error": "RuntimeError('x')"},
    ]
    return Run(12.0, ready, done, before, start, stop, (1.0, 1.0, 1.0), (2.0, 2.0, 2.0), True)


def test_the_push_pass_from_the_histogram_delta() -> None:
    r = pass_report(_run())
    assert r["passes"] == 10 and r["mean_seconds"] == 0.2
    # 5 of the 10 passes in the window took more than 0.1 s: the slowest was <= 1 s
    assert r["slowest_at_most_seconds"] == 1.0
    assert r["buckets_le_seconds"] == {"0.1": 5, "1.0": 10}


def test_the_whole_report() -> None:
    setup = Setup("bench_ws.py --fans 1000", "http://127.0.0.1:1", 1000, 1, 600, 10.0, 0.0, 1.0, 2)
    r = report(setup, _run())
    assert r["fans"] == 1000 and r["fans_connected_at_start"] == 1000
    assert r["machine"] == {"cpus": 2, "loadavg_before": [1.0] * 3, "loadavg_after": [2.0] * 3}
    assert r["ramp"] == {
        "seconds": 12.0,
        "clients_ready": 2,
        "connected": 1000,
        "failures": {"join: x": 2},
    }
    server = r["server"]
    assert server["kib_per_fan"] == 51.2  # (150 - 100) MiB over 1000 fans
    assert server["cpu_seconds_window"] == 4.0 and server["cpu_cores_busy"] == 0.4
    assert server["pushed_per_second"] == 1000.0
    assert r["delivery_lag_ms"]["p50"] == 3 and r["delivery_lag_ms"]["max"] == 8
    messages = r["messages"]
    assert messages["status_per_second"] == 1000.0
    assert messages["status_per_fan_per_second"] == 1.0
    assert messages["admitted_per_second"] == 0.5 and messages["admitted_all_run"] == 6
    assert messages["server_close_codes"] == {"1000": 1}
    assert r["client"] == {
        "processes": 2,
        "cpu_seconds_window": 1.5,
        "cpu_seconds_all_run": 4.0,
        "errors": ["RuntimeError('x')"],
    }
    assert r["event_closed_after"] is True
