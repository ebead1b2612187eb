"""bench_core.py's summary of latencies."""

from __future__ import annotations

import bench_core


def test_the_summary_of_a_run() -> None:
    latencies = [0.001 * i for i in range(1, 101)]  # 1..100 ms
    s = bench_core._summary(latencies, seconds=2.0, errors=3)
    assert s == {
        "count": 100,
        "errors": 3,
        "per_second": 50.0,
        "p50_ms": 51.0,
        "p99_ms": 100.0,
        "mean_ms": 50.5,
    }


def test_an_empty_run_divides_by_nothing() -> None:
    s = bench_core._summary([], seconds=0.0, errors=0)
    assert s == {"count": 0, "errors": 0, "per_second": 0, "p50_ms": 0, "p99_ms": 0, "mean_ms": 0}
