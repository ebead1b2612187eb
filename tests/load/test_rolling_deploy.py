"""The rolling deploy (`make rolling-deploy`) at a small size: three `onsale
serve` nodes on a three-master Redis Cluster and Postgres, behind a real
HAProxy running deploy/haproxy/haproxy.cfg, each sent SIGTERM and started
again in turn while Locust fans buy. The verdict must pass and every restart
must have drained. Then the negative controls: a node SIGKILLed (no drain)
fails the verdict, and the deploy's own checks fail on seeded records."""

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


async def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    report_path = tmp_path / "report.json"
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(LOADTESTS / "rolling_deploy.py"), "--report", str(report_path), *args],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert report_path.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads(report_path.read_text())


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_rolling_deploy_during_a_sellout_passes(tmp_path: Path) -> None:
    done, report = await _run(tmp_path, "--fans", "30")
    evidence = {k: report[k] for k in ("violations", "app_errors", "restarts", "socket_closes")}
    assert done.returncode == 0, json.dumps(evidence, indent=1)[:6000]
    assert report["ok"] and report["violations"] == [] and report["verify"]["ok"]
    assert "VERDICT: PASS" in done.stdout
    # Every node was stopped with SIGTERM, drained (503 on /readyz), exited
    # 0 within its bound, and came back as a new process.
    restarts = report["restarts"]
    assert [r["node"] for r in restarts] == [1, 2, 3]
    for r in restarts:
        assert r["signal"] == "TERM" and r["exit_code"] == 0, r
        assert 503 in r["readyz_seen"] and r["exit_seconds"] < 15, r
    # Fans were on the draining nodes, and every socket a node ended said 1012.
    assert report["socket_closes"].get("websocket closed 1012", 0) > 0, report["socket_closes"]
    assert set(report["socket_closes"]) == {"websocket closed 1012"}
    assert report["max_errors_per_fan"] <= report["max_errors_bound"]
    assert report["longest_stall_seconds"] <= report["stall_bound_seconds"]
    assert report["orders_paid"] > 0 and 0 < report["sold"] <= report["capacity"]
    # The event's hash tag puts all its keys on one master of the three.
    assert sorted(report["keys_per_redis_master"])[:2] == [0, 0]


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_node_killed_without_its_drain_fails_the_verdict(tmp_path: Path) -> None:
    """The negative control: SIGKILL (no drain) for one node. Its fans' sockets
    drop without a close frame, /readyz never says 503, it exits -9."""
    done, report = await _run(tmp_path, "--fans", "30", "--signal", "KILL", "--restarts", "1")
    assert done.returncode == 1 and "VERDICT: FAIL" in done.stdout
    problems = "\n".join(report["violations"])
    assert "websockets closed without 1012 by a node" in problems, problems
    assert "node1 exited -9" in problems and "never said 503" in problems, problems


# --------------------------------------------------------------------------- #
# Negative controls on seeded records: the deploy's own checks can fail.
# --------------------------------------------------------------------------- #


@pytest.fixture
def rolling_report(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(LOADTESTS))
    return importlib.import_module("rolling_report")


def _line(t: float, kind: str = "request", **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "t": t, **fields}


def _ws(t: float, error: str, fan: str = "f1") -> dict[str, Any]:
    return _line(t, type="WS", name="queue wait", ms=1.0, status=None, error=error, fan=fan)


def _ok(t: float, name: str = "hold", fan: str = "f1") -> dict[str, Any]:
    return _line(t, type="POST", name=name, ms=9.0, status=201, error=None, fan=fan)


def _check(module: ModuleType, record: list[dict[str, Any]]) -> list[str]:
    problems, _ = module.rolling_problems(record, max_errors=2, max_stall=5.0)
    return list(problems)


def test_drained_sockets_and_steady_progress_pass(rolling_report: ModuleType) -> None:
    record = [
        _ok(1.0),
        _ws(2.0, "_WsClosed: websocket closed with code 1012"),
        _ws(2.5, "_WsClosed: websocket closed with code 1012", fan="f2"),
        _ws(3.0, "TimeoutError: not admitted", fan="f3"),
        _line(3.5, "admitted", entry="q1"),
        _ok(6.0, "checkout"),
    ]
    assert _check(rolling_report, record) == []


def test_a_socket_dropped_without_1012_fails(rolling_report: ModuleType) -> None:
    record = [
        _ok(1.0),
        _ws(2.0, "WebSocketConnectionClosedException: Connection to remote host was lost."),
        _ws(2.1, "_WsClosed: websocket closed with code 1006", fan="f2"),
        _ok(3.0),
    ]
    (problem,) = _check(rolling_report, record)
    assert problem.startswith("websockets closed without 1012 by a node")
    assert "connection lost" in problem and "websocket closed 1006" in problem


def test_too_many_errors_for_one_fan_fail(rolling_report: ModuleType) -> None:
    record = [_ok(1.0)] + [
        _line(1.0 + i / 10, type="POST", name="hold", ms=1.0, status=503, error="503", fan="f9")
        for i in range(3)
    ]
    assert _check(rolling_report, record) == ["fan f9 saw 3 errors (bound 2)"]


def test_a_stalled_sale_fails_until_it_sold_out(rolling_report: ModuleType) -> None:
    record = [_ok(1.0), _ok(2.0), _ok(9.5)]
    assert _check(rolling_report, record) == ["the sale stalled 7.5 s (bound 5 s)"]
    # Sold out at 2.5: nothing could move after, so no stall.
    problems, _ = rolling_report.rolling_problems(
        record, max_errors=2, max_stall=5.0, sold_out_at=2.5
    )
    assert problems == []


def test_a_restart_that_did_not_drain_fails(rolling_report: ModuleType) -> None:
    drained = {"node": 1, "exit_code": 0, "exit_seconds": 5.7, "readyz_seen": [503]}
    assert rolling_report.restart_problems([drained], 15) == []
    killed = {"node": 2, "exit_code": -9, "exit_seconds": 0.0, "readyz_seen": []}
    slow = {"node": 3, "exit_code": 0, "exit_seconds": 16.0, "readyz_seen": [200, 503]}
    assert rolling_report.restart_problems([killed, slow], 15) == [
        "node2 exited -9 (a drained node exits 0)",
        "node2 never said 503 on /readyz before it went",
        "node3 took 16.0 s to exit (bound 15 s)",
    ]
