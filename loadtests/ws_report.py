"""bench_ws.py's report, pure: what the client processes counted and what the
server's /proc and /metrics said at three moments (before the first join, at
the window's start, at its end) in; the JSON report out."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

PASS_METRIC = "onsale_ws_push_pass_seconds"


def percentile(hist: Counter[int], p: float) -> int | None:
    """The p-quantile of a histogram of whole milliseconds."""
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = max(math.ceil(total * p), 1), 0
    for value in sorted(hist):
        seen += hist[value]
        if seen >= rank:
            return value
    return max(hist)


@dataclass(frozen=True)
class ServerSample:
    """The server's processes, memory, CPU and metrics at one moment."""

    at: float
    pids: tuple[int, ...]
    rss_kib: int
    cpu_seconds: float
    metrics: dict[str, float]


@dataclass
class Run:
    """The raw material of the report."""

    ramp_seconds: float
    ready: list[dict[str, Any]]
    done: list[dict[str, Any]]
    before: ServerSample
    start: ServerSample
    stop: ServerSample
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    event_closed: bool


def sum_of(reports: list[dict[str, Any]], key: str) -> float:
    return sum(float(r.get(key, 0)) for r in reports)


def counters(reports: list[dict[str, Any]], key: str) -> Counter[Any]:
    total: Counter[Any] = Counter()
    for r in reports:
        total.update(r.get(key, {}))
    return total


def delta(run: Run, name: str) -> float:
    return run.stop.metrics.get(name, 0.0) - run.start.metrics.get(name, 0.0)


def pass_report(run: Run) -> dict[str, Any]:
    count = delta(run, f"{PASS_METRIC}_count")
    total = delta(run, f"{PASS_METRIC}_sum")
    buckets = sorted(
        (float(name.split('le="')[1].rstrip('"}')), delta(run, name))
        for name in run.stop.metrics
        if name.startswith(f"{PASS_METRIC}_bucket{{")
    )
    slowest = next((le for le, n in buckets if count and n >= count), None)
    return {
        "passes": int(count),
        "mean_seconds": round(total / count, 4) if count else None,
        "slowest_at_most_seconds": slowest,
        "buckets_le_seconds": {str(le): int(n) for le, n in buckets},
    }


def server_report(run: Run, fans_at_start: int, seconds: float) -> dict[str, Any]:
    grown = run.start.rss_kib - run.before.rss_kib
    cpu = run.stop.cpu_seconds - run.start.cpu_seconds
    return {
        "processes": len(run.start.pids),
        "rss_before_mib": round(run.before.rss_kib / 1024, 1),
        "rss_connected_mib": round(run.start.rss_kib / 1024, 1),
        "rss_after_window_mib": round(run.stop.rss_kib / 1024, 1),
        "kib_per_fan": round(grown / fans_at_start, 2)
        if fans_at_start and run.start.pids
        else None,
        "cpu_seconds_window": round(cpu, 2),
        "cpu_cores_busy": round(cpu / seconds, 2),
        "ws_connections_gauge_at_start": run.start.metrics.get("onsale_ws_connections"),
        "pushed_per_second": round(delta(run, "onsale_ws_messages_pushed_total") / seconds, 1),
        "dropped": int(delta(run, "onsale_ws_messages_dropped_total")),
        "slow_disconnects": int(delta(run, "onsale_ws_slow_disconnects_total")),
        "admitted_metric": int(delta(run, "onsale_queue_admitted_total")),
    }


def lag_report(lag: Counter[int]) -> dict[str, Any]:
    return {
        "samples": sum(lag.values()),
        "p50": percentile(lag, 0.50),
        "p90": percentile(lag, 0.90),
        "p99": percentile(lag, 0.99),
        "max": max(lag) if lag else None,
    }


def merge_ticks(reports: list[dict[str, Any]]) -> dict[int, list[int]]:
    merged: dict[int, list[int]] = {}
    for r in reports:
        for ts, (first, last, count) in r.get("ticks", {}).items():
            tick = merged.setdefault(ts, [first, last, 0])
            tick[0], tick[1], tick[2] = min(tick[0], first), max(tick[1], last), tick[2] + count
    return merged


def ticks_report(ticks: dict[int, list[int]]) -> dict[str, Any]:
    """Per push tick seen in the window: how long until its first message
    arrived, how long its messages took to all arrive, and the time between
    ticks (the push period the fans get)."""
    stamps = sorted(ticks)
    first = Counter(ticks[ts][0] - ts for ts in stamps)
    spread = Counter(ticks[ts][1] - ticks[ts][0] for ts in stamps)
    period = Counter(b - a for a, b in itertools.pairwise(stamps))
    return {
        "ticks": len(stamps),
        "first_arrival_ms_p50": percentile(first, 0.5),
        "first_arrival_ms_max": max(first) if first else None,
        "arrival_spread_ms_p50": percentile(spread, 0.5),
        "arrival_spread_ms_max": max(spread) if spread else None,
        "period_ms_p50": percentile(period, 0.5),
        "period_ms_max": max(period) if period else None,
        "messages_per_tick_p50": percentile(Counter(ticks[ts][2] for ts in stamps), 0.5),
    }


@dataclass(frozen=True)
class Setup:
    """How the bench was run, as the report states it."""

    command: str
    url: str
    fans: int
    workers: int | None
    rate_per_minute: int
    seconds: float
    settle_seconds: float
    push_interval_seconds: float
    cpus: int | None


def report(setup: Setup, run: Run) -> dict[str, Any]:
    done, seconds = run.done, setup.seconds
    fans_at_start = int(sum_of(done, "open_at_start"))
    status = sum_of(done, "status")
    return {
        "command": setup.command,
        "url": setup.url,
        "fans": setup.fans,
        "workers": setup.workers,
        "rate_per_minute": setup.rate_per_minute,
        "seconds": seconds,
        "settle_seconds": setup.settle_seconds,
        "push_interval_seconds": setup.push_interval_seconds,
        "machine": {
            "cpus": setup.cpus,
            "loadavg_before": [round(x, 2) for x in run.load_before],
            "loadavg_after": [round(x, 2) for x in run.load_after],
        },
        "ramp": {
            "seconds": round(run.ramp_seconds, 1),
            "clients_ready": len(run.ready),
            "connected": int(sum_of(run.ready, "connected")),
            "failures": dict(counters(run.ready, "failures").most_common(10)),
        },
        "fans_connected_at_start": fans_at_start,
        "server": server_report(run, fans_at_start, seconds),
        "push_pass": pass_report(run),
        "delivery_lag_ms": lag_report(counters(done, "lag_ms")),
        "push_ticks": ticks_report(merge_ticks(done)),
        "messages": {
            "status_per_second": round(status / seconds, 1),
            "status_per_fan_per_second": round(status / seconds / fans_at_start, 3)
            if fans_at_start
            else None,
            "status_without_ts": int(sum_of(done, "untimed")),
            "admitted_per_second": round(sum_of(done, "admitted") / seconds, 2),
            "admitted_all_run": int(sum_of(done, "admitted_all_run")),
            "closed_all_run": int(sum_of(done, "closed_all_run")),
            "closed_by_server_without_last_message": int(sum_of(done, "lost_final_all_run")),
            "server_close_codes": dict(counters(done, "server_closes")),
        },
        "client": {
            "processes": len(done),
            "cpu_seconds_window": round(sum_of(done, "cpu_window"), 2),
            "cpu_seconds_all_run": round(sum_of(done, "cpu_all_run"), 2),
            "errors": [d["error"] for d in done if "error" in d],
        },
        "event_closed_after": run.event_closed,
    }
