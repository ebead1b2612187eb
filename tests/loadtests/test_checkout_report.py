"""bench_checkout.py's pure report: the server's histogram from a scrape, its
quantiles, client percentiles, one run's figures per checkout, the median
round, onsale over the ceiling and the goals, the table, the profile split."""

from __future__ import annotations

import math
from typing import Any

import pytest

from checkout_report import (
    Snapshot,
    bucket_delta,
    buckets,
    by_package,
    combine,
    goals,
    histogram_quantile,
    percentile,
    run_figures,
    table,
)

SCRAPE = """\
# HELP onsale_checkout_duration_seconds Time of a checkout
# TYPE onsale_checkout_duration_seconds histogram
onsale_checkout_duration_seconds_bucket{le="0.1",outcome="ok"} 10.0
onsale_checkout_duration_seconds_bucket{le="0.5",outcome="ok"} 90.0
onsale_checkout_duration_seconds_bucket{le="1.0",outcome="ok"} 100.0
onsale_checkout_duration_seconds_bucket{le="+Inf",outcome="ok"} 100.0
onsale_checkout_duration_seconds_bucket{le="0.1",outcome="hold_expired"} 7.0
onsale_checkout_duration_seconds_bucket{le="+Inf",outcome="hold_expired"} 7.0
onsale_checkout_duration_seconds_count{outcome="ok"} 100.0
onsale_hold_duration_seconds_bucket{le="0.1",outcome="ok"} 555.0
"""


def test_buckets_take_one_histogram_and_one_outcome() -> None:
    assert buckets(SCRAPE) == {0.1: 10.0, 0.5: 90.0, 1.0: 100.0, math.inf: 100.0}
    assert buckets(SCRAPE, outcome="hold_expired") == {0.1: 7.0, math.inf: 7.0}
    assert buckets("") == {}


def test_labels_in_any_order_are_read() -> None:
    line = 'onsale_checkout_duration_seconds_bucket{outcome="ok",le="0.25"} 3.0'
    assert buckets(line) == {0.25: 3.0}


def test_the_delta_is_the_run_alone() -> None:
    before = {0.1: 5.0, 0.5: 5.0, math.inf: 5.0}
    after = {0.1: 15.0, 0.5: 95.0, math.inf: 105.0}
    assert bucket_delta(before, after) == {0.1: 10.0, 0.5: 90.0, math.inf: 100.0}


def test_quantiles_interpolate_within_the_bucket() -> None:
    h = buckets(SCRAPE)
    assert histogram_quantile(h, 0.05) == pytest.approx(0.05)  # 5 of the first 10, 0..0.1
    assert histogram_quantile(h, 0.5) == pytest.approx(0.1 + 0.4 * 40 / 80)
    assert histogram_quantile(h, 0.99) == pytest.approx(0.5 + 0.5 * 9 / 10)


def test_a_quantile_past_the_last_bound_is_that_bound_and_none_when_empty() -> None:
    assert histogram_quantile({0.1: 1.0, 1.0: 1.0, math.inf: 10.0}, 0.99) == 1.0
    assert histogram_quantile({0.1: 0.0, math.inf: 0.0}, 0.5) is None
    assert histogram_quantile({}, 0.5) is None


def test_percentile_is_nearest_rank() -> None:
    values = [float(x) for x in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([], 0.5) == 0.0


def _snap(at: float, server: float, pg: float, rd: float, busy: float, c: int, r: int) -> Snapshot:
    return Snapshot(at, server, pg, rd, busy, c, r)


def test_run_figures_are_per_checkout() -> None:
    before = _snap(100.0, 10.0, 5.0, 1.0, 1000.0, 1000, 50)
    after = _snap(110.0, 14.0, 7.0, 1.5, 1018.0, 1500, 150)
    f = run_figures(
        before,
        after,
        done=200,
        errors=3,
        latencies_s=[0.1] * 99 + [2.0],
        client_cpu=1.0,
        server_hist={0.5: 100.0, math.inf: 100.0},
    )
    assert f["checkouts_per_second"] == 20.0
    assert f["server_cpu_ms_per_checkout"] == 20.0  # 4 s over 200
    assert f["postgres_cpu_ms_per_checkout"] == 10.0
    assert f["redis_cpu_ms_per_checkout"] == 2.5
    assert f["client_cpu_ms_per_checkout"] == 5.0
    assert f["client_cores"] == 0.1
    assert f["xacts_per_checkout"] == 3.0  # 500 commits + 100 rollbacks
    assert (f["commits_per_checkout"], f["rollbacks_per_checkout"]) == (2.5, 0.5)
    assert (f["client_p50_ms"], f["client_p99_ms"]) == (100.0, 100.0)
    assert f["server_p50_ms"] == 250.0
    # 18 busy core-seconds, 4 + 1 + 2 + 0.5 ours: 10.5 over 10 s are others'
    assert f["foreign_cores"] == 1.05
    assert f["errors"] == 3


def test_no_checkout_does_not_divide_by_zero() -> None:
    s = _snap(1.0, 0, 0, 0, 0, 0, 0)
    f = run_figures(s, s, done=0, errors=0, latencies_s=[], client_cpu=0.0)
    assert f["checkouts_per_second"] == 0.0
    assert "server_p99_ms" not in f


def _run(cps: float, **extra: Any) -> dict[str, Any]:
    return {
        "checkouts_per_second": cps,
        "xacts_per_checkout": 1.0,
        "server_cpu_ms_per_checkout": 1.0,
        **extra,
    }


def test_combine_takes_each_target_s_median_round_and_the_ratios() -> None:
    rounds = [
        {"onsale": _run(100, server_p99_ms=900.0), "ceiling": _run(1000)},
        {"onsale": _run(300, server_p99_ms=400.0), "ceiling": _run(900)},
        {"onsale": _run(200, server_p99_ms=450.0), "ceiling": _run(800)},
    ]
    out = combine(rounds)
    assert out["targets"]["onsale"]["checkouts_per_second"] == 200
    assert out["targets"]["onsale"]["rounds_per_second"] == [100, 300, 200]
    assert out["targets"]["ceiling"]["checkouts_per_second"] == 900
    assert out["onsale_over_ceiling"] == round(200 / 900, 3)
    assert out["onsale_over_ceiling_by_round"] == [0.1, 0.333, 0.25]
    assert out["onsale_over_ceiling_median_of_rounds"] == 0.25
    assert out["goals"]["server_p99_under_500ms"] is True
    assert out["goals"]["at_least_25pct_of_ceiling"] is False
    assert "onsale over the ceiling: 0.222" in table(out)


def test_goals_each_on_its_own_threshold() -> None:
    bad = _run(1, server_p99_ms=500.0, xacts_per_checkout=2.01, server_cpu_ms_per_checkout=3.0)
    assert goals(bad, 0.2499) == {
        "at_least_25pct_of_ceiling": False,
        "server_p99_under_500ms": False,
        "at_most_2_xacts_per_checkout": False,
        "server_cpu_under_3ms": False,
    }
    good = _run(1, server_p99_ms=499.9, xacts_per_checkout=2.0, server_cpu_ms_per_checkout=2.99)
    assert all(goals(good, 0.25).values())
    assert goals(_run(1), None)["at_least_25pct_of_ceiling"] is None
    assert goals(_run(1), None)["server_p99_under_500ms"] is None


def test_the_table_has_a_line_per_target_and_dashes_for_missing_figures() -> None:
    out = combine([{"ceiling": _run(500, client_p99_ms=12.5)}])
    text = table(out)
    assert "ceiling" in text.splitlines()[2]
    assert " - " in text  # no server histogram for the ceiling
    assert "goals" not in text


def test_the_profile_is_split_by_the_innermost_frame_s_package() -> None:
    lines = [
        "main (x.py:1);execute (/v/site-packages/sqlalchemy/engine/base.py:10);"
        "bind_execute (/v/site-packages/asyncpg/protocol.py:3) 60",
        "main (x.py:1);compile (/v/site-packages/sqlalchemy/sql/compiler.py:5) 30",
        "main (x.py:1);checkout (/w/src/onsale/checkout/service.py:9) 10",
        "garbage",
    ]
    out = by_package(lines)
    assert out["samples"] == 100
    assert out["percent_by_package"] == {"asyncpg": 60.0, "sqlalchemy": 30.0, "onsale": 10.0}
    assert out["top_self"][0]["percent"] == 60.0
    assert by_package([])["samples"] == 0
