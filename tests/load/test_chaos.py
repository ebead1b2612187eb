"""The chaos run (`make chaos`) at a small size: an app process SIGKILLed,
Redis restarted empty, Postgres stopped for 10 s and Redis stalled by SIGSTOP
while Locust fans buy, on the run's own Redis and Postgres. The verdict must
pass and each fault must really have happened. Then the negative controls:
the verdict's checker fails on a seeded record (a 201 whose order is missing,
a seat in two orders, a lost place, a refused token, a 500, an intruder let
in), so the run can fail."""

from __future__ import annotations

import asyncio
import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"


@pytest.mark.timeout(180)
async def test_a_small_chaos_run_passes_and_every_fault_happened(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            str(LOADTESTS / "chaos.py"),
            "--fans",
            "25",
            "--seconds",
            "40",
            "--report",
            str(report_path),
        ],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert report_path.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(report_path.read_text())
    evidence = {k: report[k] for k in ("violations", "app_errors", "faults")}
    assert done.returncode == 0, json.dumps(evidence, indent=1)[:6000]
    assert report["ok"] and report["violations"] == [] and report["verify"]["ok"]

    faults = {f["fault"]: f for f in report["faults"]}
    assert list(faults) == ["app_sigkill", "redis_restart_empty", "postgres_stop", "redis_sigstop"]
    assert all(f["until_s"] >= f["at_s"] > 0 for f in faults.values())
    kill = faults["app_sigkill"]
    assert kill["killed_pid_gone"] and kill["new_pid"] != kill["pid_killed"]
    redis = faults["redis_restart_empty"]
    assert None not in (redis["run_id_before"], redis["run_id_after"])
    assert redis["run_id_before"] != redis["run_id_after"]
    assert redis["keys_before"] > 0
    postgres = faults["postgres_stop"]
    assert postgres["pid_gone"] and postgres["down_seconds"] >= 9.5
    assert postgres["pid_after"] != postgres["pid_before"]
    assert faults["redis_sigstop"]["state_while_stopped"] == "T"

    assert report["orders_paid"] > 0
    assert 0 < report["sold"] <= report["capacity"]
    assert report["errors"]["fans"] > 0
    assert 0 <= report["degraded"]["seconds"] <= report["degraded"]["of_sale_seconds"]
    assert "VERDICT: PASS" in done.stdout
    # The intruder knocked through the faults and never got in (I8).
    intruders = report["intruders"]
    assert intruders["attempts"] > 0 and intruders["got_in"] == 0, intruders
    assert intruders["refused_4401"] > 0, intruders


# --------------------------------------------------------------------------- #
# Negative controls: the checker of the verdict can fail.
# --------------------------------------------------------------------------- #


@pytest.fixture
def chaos_report(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(LOADTESTS))
    return importlib.import_module("chaos_report")


def _paid(order_id: str, seats: list[str | None], t: float = 100.0) -> dict[str, Any]:
    return {"kind": "paid", "t": t, "order_id": order_id, "status": 201, "seats": seats}


def _order(seats: list[str | None]) -> dict[str, Any]:
    return {"status": "paid", "tickets": [{"seat": s} for s in seats]}


def _request(
    t: float, name: str, status: int, error: str | None, fan: str = "f1"
) -> dict[str, Any]:
    return {
        "kind": "request",
        "t": t,
        "type": "POST",
        "name": name,
        "ms": 20.0,
        "status": status,
        "error": error,
        "fan": fan,
    }


def test_a_clean_record_has_no_violation(chaos_report: ModuleType) -> None:
    record = [_paid("o1", ["BALC-R0-1"]), _paid("o2", [None, None]), _request(1, "hold", 201, None)]
    orders = {"o1": _order(["BALC-R0-1"]), "o2": _order([None, None])}
    assert chaos_report.violations(record, orders) == ([], [])


def test_a_201_whose_order_is_missing_fails_the_verdict(chaos_report: ModuleType) -> None:
    problems, _ = chaos_report.violations([_paid("o1", ["BALC-R0-1"])], {})
    assert problems == ["a fan was told order o1 but it is missing"]


def test_a_seat_in_two_paid_orders_fails_the_verdict(chaos_report: ModuleType) -> None:
    record = [_paid("o1", ["BALC-R0-1"]), _paid("o2", ["BALC-R0-1"])]
    orders = {"o1": _order(["BALC-R0-1"]), "o2": _order(["BALC-R0-1"])}
    problems, _ = chaos_report.violations(record, orders)
    assert problems == ["seat BALC-R0-1 is in orders ['o1', 'o2']"]


def test_a_lost_place_or_refused_token_fails_unless_tolerated(chaos_report: ModuleType) -> None:
    record = [
        {"kind": "place_lost", "t": 5.0, "entry": "q_1", "before": 3, "after": 40},
        {"kind": "token_refused", "t": 6.0, "entry": "q_2"},
    ]
    problems, tolerated = chaos_report.violations(record, {})
    assert len(problems) == 2 and tolerated == []
    assert "q_1 lost its place (3 -> 40)" in problems[0]
    assert "q_2 was refused its own queue token" in problems[1]
    problems, tolerated = chaos_report.violations(record, {}, allow_lost_places=True)
    assert problems == [] and len(tolerated) == 2


def test_a_500_fails_the_verdict_and_a_503_does_not(chaos_report: ModuleType) -> None:
    record = [
        _request(1, "join", 500, "CatchResponseError: join 500", fan="a"),
        _request(2, "hold", 503, "CatchResponseError: hold 503", fan="b"),
    ]
    problems, _ = chaos_report.violations(record, {})
    assert len(problems) == 1 and "500 to POST join" in problems[0]
    errors = chaos_report.fans_with_errors(record)
    assert errors["fans_with_error"] == 2
    assert errors["fans_by_kind"] == {"500 (a bug)": 1, "503 unavailable": 1}


def test_error_kinds(chaos_report: ModuleType) -> None:
    kind = chaos_report.error_kind
    assert kind(_request(0, "hold", 201, None)) is None
    assert kind(_request(0, "hold", 503, "x")) == "503 unavailable"
    assert kind(_request(0, "hold", 502, "x")) == "5xx other"
    assert kind(_request(0, "hold", 0, "ConnectionRefusedError: [Errno 111]")) == (
        "connection refused"
    )
    assert kind(_request(0, "hold", 0, "ConnectionResetError: reset")) == "connection lost"
    assert kind(_request(0, "queue wait", 0, "_WsClosed: websocket closed with code 1011")) == (
        "websocket closed 1011"
    )


def test_degraded_seconds_count_failures_and_stalled_admission(chaos_report: ModuleType) -> None:
    start = 1000.0
    record = [
        _request(start + 2.5, "hold", 503, "x"),
        _request(start + 3.5, "hold", 409, "x"),  # a 4xx is not the service failing
        {"kind": "joined", "t": start + 0.1, "entry": "q1"},
        {"kind": "admitted", "t": start + 0.5, "entry": "q1"},
        {"kind": "joined", "t": start + 5.0, "entry": "q2"},  # waits from 5, admitted in 9
        {"kind": "admitted", "t": start + 9.5, "entry": "q2"},
    ]
    # 2: the 503; 5, 6, 7: fans waited and nobody was admitted within a second
    # either side (8 is next to the admission in 9).
    assert chaos_report.degraded_seconds(record, start, start + 12) == [2, 5, 6, 7]
    assert chaos_report.degraded(record, start, start + 12)["longest_admission_stall_seconds"] == 3


def test_the_longest_stall_is_the_longest_run_of_stalled_seconds(
    chaos_report: ModuleType,
) -> None:
    assert chaos_report.longest_run(set()) == 0
    assert chaos_report.longest_run({4}) == 1
    assert chaos_report.longest_run({1, 2, 3, 7, 8, 20, 21, 22, 23}) == 4


def test_effects_are_counted_per_fault_and_latency_per_phase(chaos_report: ModuleType) -> None:
    fault = chaos_report.Fault
    faults = [fault("app_sigkill", 1010.0, 1012.0), fault("postgres_stop", 1020.0, 1030.0)]
    record = [
        _request(1005.0, "hold", 201, None),  # before
        _request(1011.0, "hold", 0, "ConnectionResetError: reset"),  # during the kill
        _request(1016.0, "hold", 201, None),  # between
        _request(1025.0, "checkout", 503, "x"),  # during the outage
        _request(1040.0, "checkout", 201, None),  # after
    ]
    effects = chaos_report.per_fault(record, faults, 1000.0, 1050.0)
    assert [e["failed_requests_until_next"] for e in effects] == [1, 1]
    assert [e["failing_seconds_until_next"] for e in effects] == [1, 1]
    latency = chaos_report.latency_by_phase(record, faults)
    assert latency["hold"]["before"]["n"] == 1 and latency["hold"]["between"]["n"] == 1
    assert latency["hold"]["during"]["n"] == 0  # a lost connection has no answer time
    assert latency["checkout"]["during"] == {"p99_ms": 20.0, "n": 1}
    assert latency["checkout"]["after"]["n"] == 1


def _intruder(attempt: str, outcome: str, detail: str, t: float = 50.0) -> dict[str, Any]:
    return {"kind": "intruder", "t": t, "attempt": attempt, "outcome": outcome, "detail": detail}


def test_an_intruder_let_in_fails_the_verdict_even_when_places_are_tolerated(
    chaos_report: ModuleType,
) -> None:
    record = [
        _intruder("no_token", "refused", "4401"),
        _intruder("forged_token", "unreached", "ConnectionRefusedError"),  # an outage
        _intruder("empty_token", "closed_other", "1013"),  # try again later
        _intruder("garbage_token", "no_answer", ""),
    ]
    assert chaos_report.violations(record, {}) == ([], [])
    record.append(_intruder("no_token", "got_in", "status", t=51.0))
    for allow in (False, True):
        problems, tolerated = chaos_report.violations(record, {}, allow_lost_places=allow)
        assert problems == [
            "an intruder socket (no_token) was sent a 'status' message instead of a 4401 close (I8)"
        ]
        assert tolerated == []


def test_the_report_counts_the_intruders_knocks(chaos_report: ModuleType) -> None:
    run_sellout = importlib.import_module("run_sellout")
    record = [
        _intruder("no_token", "refused", "4401"),
        _intruder("no_token", "got_in", "admitted"),
        _intruder("forged_token", "refused", "4401"),
        _paid("o1", ["BALC-R0-1"]),
    ]
    assert run_sellout.intruders(record) == {
        "attempts": 3,
        "refused_4401": 2,
        "got_in": 1,
        "by_outcome": {"got_in": 1, "refused": 2},
        "by_attempt": {"forged_token": {"refused": 1}, "no_token": {"got_in": 1, "refused": 1}},
    }
    problems = run_sellout.check_record(record, {"o1": _order(["BALC-R0-1"])})
    assert len(problems) == 1 and "(no_token) was sent a 'admitted' message" in problems[0]


def test_the_sellout_verdict_counts_500s_from_locust_failures(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """run_sellout's verdict read no 500 at all: now each request type that
    answered 500 is a violation; 409s and 503s are not."""
    monkeypatch.syspath_prepend(str(LOADTESTS))
    run_sellout = importlib.import_module("run_sellout")
    failures = tmp_path / "stats_failures.csv"
    failures.write_text(
        "Method,Name,Error,Occurrences,First Seen,Last Seen\n"
        'POST,checkout,"CatchResponseError(\'checkout 500: {""error"": 1}\')",3,a,b\n'
        "GET,event,HTTPError('500 Internal Server Error'),1,a,b\n"
        "POST,hold,CatchResponseError('hold 503: BALC-A-500'),2,a,b\n",
        encoding="utf-8",
    )
    problems = run_sellout.server_errors(failures)
    assert len(problems) == 2, problems
    assert problems[0].startswith("3 answers 500 to POST checkout")
    assert run_sellout.server_errors(tmp_path / "absent.csv") == []
