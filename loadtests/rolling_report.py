"""The rolling deploy's own checks, on top of the sell-out's verdict
(chaos_report.violations, `onsale verify`): computed from the fans' JSONL
record (every request, ONSALE_LT_REQUESTS=1) and the restart timeline.

- every websocket a node ended was closed with 1012 (a drop without a close
  frame, or another code, is a node that did not drain);
- errors per fan are bounded: the 1012 closes (one per drain a fan waited
  through) apart, a fan sees at most ``max_errors`` failed requests;
- the sale never stalled: the longest time without progress (an admission,
  a hold or a checkout answered 201) while places were left, at most
  ``max_stall`` seconds.

Pure functions (no I/O), so tests/load/test_rolling_deploy.py can show them
failing on seeded records.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

from chaos_report import error_kind

RESTART_CODE = "websocket closed 1012"
# A failed websocket wait that is not a close by a node: the fan gave up
# waiting, or the handshake was refused (counted as errors, not as closes).
NOT_A_CLOSE = ("TimeoutError", "Handshake status", "WebSocketBadStatus")


def _ws_waits(record: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        line
        for line in record
        if line["kind"] == "request" and line.get("type") == "WS" and line.get("error")
    ]


def closes(record: list[dict[str, Any]]) -> Counter[str]:
    """How the fans' sockets were ended by the service, by kind."""
    out: Counter[str] = Counter()
    for line in _ws_waits(record):
        if any(mark in str(line["error"]) for mark in NOT_A_CLOSE):
            continue
        out[error_kind(line) or "?"] += 1
    return out


def errors_per_fan(record: list[dict[str, Any]]) -> Counter[str]:
    """Failed requests per fan (4xx answers about the request and the 1012
    closes of a drain apart)."""
    per_fan: Counter[str] = Counter()
    for line in record:
        if line["kind"] != "request" or not line.get("fan"):
            continue
        kind = error_kind(line)
        if kind is None or kind[:1] == "4" or kind == RESTART_CODE:
            continue
        if any(mark in str(line["error"]) for mark in ("TimeoutError: not admitted",)):
            continue
        per_fan[line["fan"]] += 1
    return per_fan


def progress_times(record: list[dict[str, Any]]) -> list[float]:
    """When the sale moved: a fan admitted, a hold or a checkout answered 201."""
    times = [float(line["t"]) for line in record if line["kind"] == "admitted"]
    times += [
        float(line["t"])
        for line in record
        if line["kind"] == "request"
        and line.get("name") in ("hold", "checkout")
        and line.get("status") in (200, 201)
    ]
    return sorted(times)


def longest_stall(record: list[dict[str, Any]], *, until: float | None = None) -> float:
    """The longest gap between two moments of progress (up to ``until``: the
    sell-out, after which nothing can move)."""
    times = [t for t in progress_times(record) if until is None or t <= until]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return round(max(gaps, default=0.0), 2)


def rolling_problems(
    record: list[dict[str, Any]],
    *,
    max_errors: int,
    max_stall: float,
    sold_out_at: float | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """(violations, figures) of the rolling deploy's own checks."""
    problems: list[str] = []
    ended = closes(record)
    bad = {kind: n for kind, n in ended.items() if kind != RESTART_CODE}
    if bad:
        problems.append(f"websockets closed without 1012 by a node: {dict(sorted(bad.items()))}")
    per_fan = errors_per_fan(record)
    worst = max(per_fan.values(), default=0)
    if worst > max_errors:
        fan, count = per_fan.most_common(1)[0]
        problems.append(f"fan {fan} saw {count} errors (bound {max_errors})")
    stall = longest_stall(record, until=sold_out_at)
    if stall > max_stall:
        problems.append(f"the sale stalled {stall:.1f} s (bound {max_stall:.0f} s)")
    figures = {
        "socket_closes": dict(sorted(ended.items())),
        "fans_with_errors": len(per_fan),
        "max_errors_per_fan": worst,
        "max_errors_bound": max_errors,
        "longest_stall_seconds": stall,
        "stall_bound_seconds": max_stall,
    }
    return problems, figures


def restart_problems(restarts: list[dict[str, Any]], bound: float) -> list[str]:
    """Each node stopped must have drained: said 503 on /readyz, exited 0
    within ``bound`` seconds of the signal."""
    problems = []
    for r in restarts:
        name = f"node{r['node']}"
        if r["exit_code"] != 0:
            problems.append(f"{name} exited {r['exit_code']} (a drained node exits 0)")
        if r["exit_seconds"] > bound:
            problems.append(f"{name} took {r['exit_seconds']} s to exit (bound {bound:g} s)")
        if 503 not in r["readyz_seen"]:
            problems.append(f"{name} never said 503 on /readyz before it went")
    return problems
