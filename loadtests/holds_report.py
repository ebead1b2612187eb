"""bench_holds.py's report, pure: CPU figures between two snapshots, each
target's median round, the ratios between targets and their goals, the table
on stderr."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any


@dataclass
class CpuSnapshot:
    at: float
    machine_busy: float
    server: float
    redis: float
    postgres: float
    children: float
    load: tuple[float, float, float]
    evalsha: tuple[int, int]  # Redis commandstats: calls, usec (all clients of db server)


def cpu_report(a: CpuSnapshot, b: CpuSnapshot, requests: int) -> dict[str, Any]:
    wall = b.at - a.at
    server, client = b.server - a.server, b.children - a.children
    redis_cpu, pg_cpu = b.redis - a.redis, b.postgres - a.postgres
    busy = b.machine_busy - a.machine_busy
    foreign = max(busy - server - client - redis_cpu - pg_cpu, 0.0)
    calls, usec = b.evalsha[0] - a.evalsha[0], b.evalsha[1] - a.evalsha[1]
    return {
        "wall_seconds": round(wall, 2),
        "server_cpu_seconds": round(server, 2),
        "server_cpu_us_per_hold": round(server / requests * 1e6, 1) if requests else None,
        "client_cpu_seconds": round(client, 2),
        "redis_cpu_seconds": round(redis_cpu, 2),
        "redis_cpu_us_per_hold": round(redis_cpu / requests * 1e6, 1) if requests else None,
        # time inside the Lua script (any client's EVALSHA; ours dominate)
        "redis_evalsha_calls": calls,
        "redis_evalsha_us_per_call": round(usec / calls, 1) if calls else None,
        "postgres_cpu_seconds": round(pg_cpu, 2),
        "machine_busy_cores": round(busy / wall, 2) if wall else None,
        "foreign_cores": round(foreign / wall, 2) if wall else None,
        "load_before": [round(x, 2) for x in a.load],
        "load_after": [round(x, 2) for x in b.load],
    }


def log_errors(text: str) -> dict[str, Any]:
    """How many tracebacks a server's log holds, counted by exception."""
    lines = text.splitlines()[:200_000]
    pattern = re.compile(r"^([\w.]+(?:Error|Exception|Disconnect))\b")
    kinds = Counter(m.group(1) for line in lines if (m := pattern.match(line)))
    return {
        "tracebacks": sum(line.startswith("Traceback") for line in lines),
        "by_kind": dict(kinds),
    }


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def hps(name: str) -> float:
        return float(results.get(name, {}).get("holds_per_second") or 0)

    out: dict[str, Any] = {}
    if hps("onsale") and hps("bare"):
        out["onsale_over_bare"] = round(hps("onsale") / hps("bare"), 3)
        out["goal_70pct_of_ceiling_met"] = out["onsale_over_bare"] >= 0.70
    if hps("onsale") and hps("pg"):
        out["onsale_over_pg"] = round(hps("onsale") / hps("pg"), 1)
        out["goal_10x_pg_met"] = out["onsale_over_pg"] >= 10
    return out


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median throughput (its latencies and CPU go with it)."""
    ordered = sorted(runs, key=lambda r: float(r["holds_per_second"]))
    return ordered[(len(ordered) - 1) // 2]


ROUND_KEYS = (
    "holds_per_second",
    "p50_ms",
    "p99_ms",
    "server_cpu_us_per_hold",
    "foreign_cores",
    "load_before",
    "holds_table_rows_before",
    "holds_table_rows_after",
)


@dataclass(frozen=True)
class Served:
    """What the report says of one target's server, besides its runs."""

    name: str
    command: str
    notes: dict[str, Any]
    log_text: str


def combine(rounds: list[dict[str, dict[str, Any]]], served: list[Served]) -> dict[str, Any]:
    """Each target's median round (with every round's figures), and the
    ratios between the targets' medians and within each round."""
    targets: dict[str, dict[str, Any]] = {}
    for s in served:
        runs = [r[s.name] for r in rounds]
        targets[s.name] = {
            **median_run(runs),
            "rounds": [{k: r[k] for k in ROUND_KEYS if k in r} for r in runs],
            "server_command": s.command,
            **s.notes,
            # wrk cuts connections mid-request when its time is up: a few
            # ClientDisconnect tracebacks per run are expected there, not failures.
            "server_log": log_errors(s.log_text),
        }
    return {
        "targets": targets,
        "ratios": ratios(targets),
        "ratios_by_round": [ratios(r) for r in rounds],
    }


def table(report: dict[str, Any]) -> str:
    head = (
        f"{'workers':>7} {'target':<7} {'holds/s':>8} {'rounds':<20} {'p50 ms':>7} "
        f"{'p99 ms':>8} {'err':>4} {'srv us/hold':>11} {'wrk cpu':>7} {'foreign':>7} "
        f"{'load1':>5}"
    )
    lines = [head, "-" * len(head)]
    for run in report["runs"]:
        for name, r in run["targets"].items():
            rounds = "/".join(f"{x['holds_per_second']:.0f}" for x in r["rounds"])
            lines.append(
                f"{run['workers']:>7} {name:<7} {r['holds_per_second']:>8.0f} {rounds:<20} "
                f"{r['p50_ms']:>7.2f} {r['p99_ms']:>8.2f} {r['errors']:>4} "
                f"{r['server_cpu_us_per_hold'] or 0:>11.0f} {r['client_cpu_seconds']:>7.1f} "
                f"{r['foreign_cores']:>7.2f} {r['load_before'][0]:>5.2f}"
            )
        ratios = ", ".join(f"{k}={v}" for k, v in run["ratios"].items())
        lines.append(f"{'':>7} median ratios: {ratios}")
    return "\n".join(lines)
