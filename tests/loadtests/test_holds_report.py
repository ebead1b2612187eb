"""bench_holds.py's pure report: wrk's figures, the CPU split, the median
round, the ratios and their goals, the table, the traceback count."""

from __future__ import annotations

from typing import Any

import pytest

from holds_report import CpuSnapshot, Served, combine, cpu_report, log_errors, median_run, ratios
from holds_report import table as report_table
from holds_wrk import HOLD_BODY, figures, wrk_lua

WRK_LINE = {
    "requests": 10_000,
    "duration_us": 2_000_000,
    "bytes": 1,
    "errors": {"connect": 0, "read": 1, "write": 0, "status": 100, "timeout": 2},
    "latency_us": {
        "mean": 1500.0,
        "max": 90_000,
        "p50": 1200,
        "p90": 2500,
        "p99": 8000,
        "p999": 20_000,
    },
}


def test_figures_count_only_non_error_answers_as_holds() -> None:
    f = figures(WRK_LINE)
    assert f["requests_per_second"] == 5000.0
    assert f["holds_per_second"] == 4950.0  # 100 non-2xx answers are not holds
    assert f["errors"] == 103
    assert (f["p50_ms"], f["p99_ms"], f["p999_ms"], f["max_ms"]) == (1.2, 8.0, 20.0, 90.0)


def test_the_wrk_script_holds_every_token_and_the_body() -> None:
    lua = wrk_lua("/api/events/e1/holds", ["a.b-1", "c_2"], threads=2)
    assert 'local tokens = {"a.b-1","c_2"}' in lua
    assert 'local path = "/api/events/e1/holds"' in lua
    assert f"local body = '{HOLD_BODY}'" in lua
    assert "local nthreads = 2" in lua
    assert "(k - 1) % nthreads == tid" in lua  # each thread its own slice


@pytest.mark.parametrize("token", ['a"b', "a b", "a\\b", "a'b", ""])
def test_a_token_the_lua_cannot_quote_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="cannot quote"):
        wrk_lua("/p", ["ok", token], threads=1)


def _snap(at: float, busy: float, server: float, client: float, redis: float, pg: float) -> Any:
    return CpuSnapshot(at, busy, server, redis, pg, client, (1.0, 2.0, 3.0), (100, 1000))


def test_foreign_cores_are_what_is_left_of_the_machine_busy_time() -> None:
    a = _snap(10.0, 100.0, 5.0, 1.0, 2.0, 0.5)
    b = _snap(12.0, 104.0, 6.0, 1.5, 2.5, 0.5)
    b = CpuSnapshot(
        b.at, b.machine_busy, b.server, b.redis, b.postgres, b.children, b.load, (600, 3500)
    )
    r = cpu_report(a, b, requests=1000)
    assert r["server_cpu_seconds"] == 1.0 and r["server_cpu_us_per_hold"] == 1000.0
    assert r["machine_busy_cores"] == 2.0
    # 4 busy seconds - 1 server - 0.5 wrk - 0.5 redis - 0 pg = 2 s over 2 s
    assert r["foreign_cores"] == 1.0
    assert r["redis_evalsha_calls"] == 500 and r["redis_evalsha_us_per_call"] == 5.0


def test_foreign_cores_never_go_negative_and_no_requests_give_no_ratio() -> None:
    a = _snap(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    b = _snap(1.0, 1.0, 3.0, 0.0, 0.0, 0.0)
    r = cpu_report(a, b, requests=0)
    assert r["foreign_cores"] == 0.0
    assert r["server_cpu_us_per_hold"] is None and r["redis_evalsha_us_per_call"] is None


def test_the_median_run_is_the_run_of_median_throughput() -> None:
    runs = [{"holds_per_second": v, "id": i} for i, v in enumerate([300.0, 100.0, 200.0])]
    assert median_run(runs)["id"] == 2
    # an even count: the lower of the two middle runs
    assert median_run(runs[:2])["id"] == 1


def test_ratios_and_their_goals() -> None:
    met = ratios(
        {"onsale": {"holds_per_second": 7000}, "bare": {"holds_per_second": 10000},
         "pg": {"holds_per_second": 700}}
    )  # fmt: skip
    assert met == {
        "onsale_over_bare": 0.7,
        "goal_70pct_of_ceiling_met": True,
        "onsale_over_pg": 10.0,
        "goal_10x_pg_met": True,
    }
    missed = ratios(
        {"onsale": {"holds_per_second": 6990}, "bare": {"holds_per_second": 10000},
         "pg": {"holds_per_second": 720}}
    )  # fmt: skip
    # the goals are judged on the ratios as reported (0.699, 9.7)
    assert not missed["goal_70pct_of_ceiling_met"] and not missed["goal_10x_pg_met"]
    # a target that was not run (or made no hold) gives no ratio
    assert ratios({"onsale": {"holds_per_second": 5}, "bare": {"holds_per_second": 0}}) == {}


def test_the_log_counts_tracebacks_by_exception() -> None:
    text = (
        "Traceback (most recent call last):\n  File x\nstarlette.requests.ClientDisconnect\n"
        "Traceback (most recent call last):\nValueError: bad\nsome line with Error inside\n"
    )
    assert log_errors(text) == {
        "tracebacks": 2,
        "by_kind": {"starlette.requests.ClientDisconnect": 1, "ValueError": 1},
    }


def _run(hps: float, cpu: float | None = 100.0) -> dict[str, Any]:
    return {
        "holds_per_second": hps,
        "p50_ms": 1.0,
        "p99_ms": 9.0,
        "errors": 0,
        "server_cpu_us_per_hold": cpu,
        "client_cpu_seconds": 0.5,
        "foreign_cores": 0.1,
        "load_before": [0.5, 0.4, 0.3],
        "not_a_round_key": 1,
    }


def test_combine_keeps_every_round_and_the_median_and_the_table_shows_them() -> None:
    rounds = [
        {"onsale": _run(900), "bare": _run(1000)},
        {"onsale": _run(700), "bare": _run(1000)},
        {"onsale": _run(800), "bare": _run(1000, cpu=None)},
    ]
    served = [
        Served("onsale", "python -m onsale.cli serve", {}, "Traceback\nKeyError: x\n"),
        Served("bare", "python -m uvicorn bare", {"wide_call": True}, ""),
    ]
    out = combine(rounds, served)
    onsale = out["targets"]["onsale"]
    assert onsale["holds_per_second"] == 800
    assert [r["holds_per_second"] for r in onsale["rounds"]] == [900, 700, 800]
    assert "not_a_round_key" not in onsale["rounds"][0]
    assert onsale["server_log"] == {"tracebacks": 1, "by_kind": {"KeyError": 1}}
    assert out["targets"]["bare"]["wide_call"] is True
    assert out["ratios"]["onsale_over_bare"] == 0.8
    assert [r["onsale_over_bare"] for r in out["ratios_by_round"]] == [0.9, 0.7, 0.8]

    text = report_table({"runs": [{"workers": 2, **out}]})
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["workers", "target", "holds/s"]
    assert lines[2].split()[:4] == ["2", "onsale", "800", "900/700/800"]
    assert "onsale_over_bare=0.8" in lines[-1]
