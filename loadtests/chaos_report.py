"""The chaos run's report, computed from what fans were told (the JSONL record
the Locust fans write, with every request when ONSALE_LT_REQUESTS=1) and from
the fault timeline: who saw an error and of which kind, how long the sale was
degraded, hold and checkout p99 before, during and after the faults, and the
violations that fail the run.

Pure functions of their inputs (no I/O), so the negative controls in
tests/load/test_chaos.py can feed them a seeded record.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from run_sellout import check_record

# A fault's effects are counted for this long after its end (reconnects, retries).
RECOVERY_SECONDS = 2.0
# Admission ticks once a second per process: a second with fans waiting and no
# admission within this many seconds around it counts as stalled.
ADMISSION_SLACK = 1
PLACE_KINDS = ("place_lost", "token_refused")


@dataclass
class Fault:
    name: str
    at: float  # epoch seconds
    until: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self, origin: float) -> dict[str, Any]:
        return {
            "fault": self.name,
            "at_s": round(self.at - origin, 1),
            "until_s": round(self.until - origin, 1),
            "at": _clock(self.at),
            "until": _clock(self.until),
            **self.details,
        }


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def error_kind(line: dict[str, Any]) -> str | None:
    """What a failed request looked like to the fan, None if it did not fail."""
    error = line.get("error")
    if not error:
        return None
    status = line.get("status") or 0
    if status == 503:
        return "503 unavailable"
    if status == 500:
        return "500 (a bug)"
    if status >= 500:
        return "5xx other"
    if status >= 400:
        return f"{status} unexpected"
    closed = re.search(r"websocket closed with code (\d+)", error)
    if closed:
        return f"websocket closed {closed.group(1)}"
    if "refused" in error.lower():
        return "connection refused"
    if "timeout" in error.lower() or "timed out" in error.lower():
        return "timeout"
    return "connection lost"


def _server_side(kind: str | None) -> bool:
    """A failure of the service (a 4xx is an answer about the request)."""
    return kind is not None and kind[:1] != "4"


def _requests(record: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in record if line["kind"] == "request"]


def _started(line: dict[str, Any]) -> float:
    return float(line["t"]) - float(line.get("ms") or 0) / 1000


def fans_with_errors(record: list[dict[str, Any]]) -> dict[str, Any]:
    """Fans (one per buying attempt) who saw at least one error, by kind."""
    fans = {line["fan"] for line in record if line.get("fan")}
    by_kind: dict[str, set[str]] = defaultdict(set)
    failed: Counter[str] = Counter()
    for line in _requests(record):
        kind = error_kind(line)
        if kind is None:
            continue
        failed[kind] += 1
        if line.get("fan"):
            by_kind[kind].add(line["fan"])
    with_error = set().union(*by_kind.values()) if by_kind else set()
    return {
        "fans": len(fans),
        "fans_with_error": len(with_error),
        "share": round(len(with_error) / len(fans), 3) if fans else 0.0,
        "fans_by_kind": {k: len(v) for k, v in sorted(by_kind.items())},
        "failed_requests_by_kind": dict(sorted(failed.items())),
    }


def _waiting_spans(record: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """(joined, left the queue) for each entry; still waiting at the end: inf."""
    joined: dict[str, float] = {}
    ended: dict[str, float] = {}
    for line in record:
        entry = line.get("entry")
        if not entry:
            continue
        if line["kind"] == "joined":
            joined.setdefault(entry, float(line["t"]))
        elif line["kind"] in ("admitted", "left_queue", "closed", "gave_up", "token_refused"):
            ended.setdefault(entry, float(line["t"]))
    return [(t, ended.get(entry, math.inf)) for entry, t in joined.items()]


def failing_seconds(record: list[dict[str, Any]], start: float, end: float) -> set[int]:
    """Seconds (offsets from ``start``) in which a request failed: a 5xx, a lost
    connection, a timeout (not a 4xx: an answer about the request)."""
    return {
        int(line["t"] - start)
        for line in _requests(record)
        if _server_side(error_kind(line)) and start <= line["t"] < end
    }


def stalled_seconds(record: list[dict[str, Any]], start: float, end: float) -> set[int]:
    """Seconds in which fans waited the whole second and nobody was admitted
    within ADMISSION_SLACK seconds of it."""
    admitted = {int(line["t"] - start) for line in record if line["kind"] == "admitted"}
    spans = _waiting_spans(record)
    stalled = set()
    for second in range(int(end - start)):
        t0 = start + second
        waiting = any(j <= t0 and e >= t0 + 1 for j, e in spans)
        near = range(second - ADMISSION_SLACK, second + ADMISSION_SLACK + 1)
        if waiting and not any(s in admitted for s in near):
            stalled.add(second)
    return stalled


def degraded_seconds(record: list[dict[str, Any]], start: float, end: float) -> list[int]:
    """Seconds in which a request failed or admission stalled while fans waited."""
    return sorted(failing_seconds(record, start, end) | stalled_seconds(record, start, end))


def longest_run(seconds: set[int]) -> int:
    """The most consecutive seconds in ``seconds``."""
    longest = run = 0
    previous = None
    for second in sorted(seconds):
        run = run + 1 if previous is not None and second == previous + 1 else 1
        longest, previous = max(longest, run), second
    return longest


def degraded(record: list[dict[str, Any]], start: float, end: float) -> dict[str, Any]:
    failing, stalled = failing_seconds(record, start, end), stalled_seconds(record, start, end)
    return {
        "seconds": len(failing | stalled),
        "of_sale_seconds": round(end - start),
        "requests_failing_seconds": len(failing),
        "admission_stalled_seconds": len(stalled),
        "longest_admission_stall_seconds": longest_run(stalled),
        "at_s": sorted(failing | stalled),
    }


def phase_of(t: float, faults: list[Fault]) -> str:
    if not faults or t < faults[0].at:
        return "before"
    if any(f.at <= t <= f.until + RECOVERY_SECONDS for f in faults):
        return "during"
    if t > faults[-1].until + RECOVERY_SECONDS:
        return "after"
    return "between"


def p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(math.ceil(0.99 * len(ordered)) - 1, 0)], 1)


def latency_by_phase(record: list[dict[str, Any]], faults: list[Fault]) -> dict[str, Any]:
    """p99 (ms) and count of answered holds and checkouts in each phase."""
    samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for line in _requests(record):
        if line["name"] in ("hold", "checkout") and line.get("status"):
            samples[line["name"]][phase_of(_started(line), faults)].append(float(line["ms"]))
    return {
        name: {
            phase: {"p99_ms": p99(samples[name][phase]), "n": len(samples[name][phase])}
            for phase in ("before", "during", "between", "after")
        }
        for name in ("hold", "checkout")
    }


def per_fault(
    record: list[dict[str, Any]], faults: list[Fault], origin: float, end: float
) -> list[dict[str, int]]:
    """From each fault's start to the next one's: failed requests, seconds
    with a failure, seconds with admission stalled."""
    out = []
    failing, stalled = failing_seconds(record, origin, end), stalled_seconds(record, origin, end)
    for i, fault in enumerate(faults):
        stop = faults[i + 1].at if i + 1 < len(faults) else end
        span = range(int(fault.at - origin), int(stop - origin))
        out.append(
            {
                "failed_requests_until_next": sum(
                    1
                    for line in _requests(record)
                    if error_kind(line) is not None and fault.at <= line["t"] < stop
                ),
                "failing_seconds_until_next": sum(1 for s in span if s in failing),
                "admission_stalled_seconds_until_next": sum(1 for s in span if s in stalled),
            }
        )
    return out


def sold_twice(orders: dict[str, Any]) -> list[str]:
    """Seats in two paid orders, as the admin API lists them."""
    owners: dict[str, list[str]] = defaultdict(list)
    for order_id, order in orders.items():
        if order.get("status") != "paid":
            continue
        for ticket in order.get("tickets", []):
            if ticket.get("seat"):
                owners[ticket["seat"]].append(order_id)
    return [f"seat {seat} is in orders {ids}" for seat, ids in owners.items() if len(ids) > 1]


def violations(
    record: list[dict[str, Any]], orders: dict[str, Any], *, allow_lost_places: bool = False
) -> tuple[list[str], list[str]]:
    """(violations, tolerated): a 201 whose order is missing or unpaid, a seat
    sold twice, a place lost or a token refused (tolerated with
    ``allow_lost_places``), any 500 answer (API.md: a 500 is a bug), an
    intruder socket let in (never tolerated: I8)."""
    problems = check_record(
        [line for line in record if line["kind"] not in PLACE_KINDS], orders
    ) + sold_twice(orders)
    places = check_record([line for line in record if line["kind"] in PLACE_KINDS], orders)
    bugs: dict[str, list[str]] = defaultdict(list)
    for line in _requests(record):
        if line.get("status") == 500:
            bugs[f"{line['type']} {line['name']}"].append(str(line["error"]))
    for request, errors in bugs.items():
        problems.append(f"{len(errors)} answers 500 to {request} (API.md: a bug): {errors[0]}")
    if allow_lost_places:
        return problems, places
    return problems + places, []
