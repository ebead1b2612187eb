"""bench_checkout.py's report, pure: the server's histogram out of a /metrics
scrape (its quantiles by interpolation within buckets), client percentiles,
one run's figures per checkout from two snapshots, the median round, the
ratio onsale / ceiling and the issue's goals, the table."""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from typing import Any

HISTOGRAM = "onsale_checkout_duration_seconds"
_BUCKET = re.compile(r"^(?P<name>[a-z_]+)_bucket\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="([^"]*)"')

# The goals of issue 16 (64 buyers at once, the test provider, two workers).
GOAL_OVER_CEILING = 0.25
GOAL_P99_MS = 500.0
GOAL_XACTS = 2.0
GOAL_SERVER_CPU_MS = 3.0


def buckets(scrape: str, name: str = HISTOGRAM, outcome: str = "ok") -> dict[float, float]:
    """The cumulative bucket counts of histogram ``name`` for ``outcome``
    (upper bound -> count; +Inf as math.inf), summed over any other labels."""
    out: dict[float, float] = {}
    for line in scrape.splitlines():
        m = _BUCKET.match(line)
        if not m or m["name"] != name:
            continue
        labels = dict(_LABEL.findall(m["labels"]))
        if labels.get("outcome") != outcome or "le" not in labels:
            continue
        le = math.inf if labels["le"] == "+Inf" else float(labels["le"])
        out[le] = out.get(le, 0.0) + float(m["value"])
    return out


def bucket_delta(before: dict[float, float], after: dict[float, float]) -> dict[float, float]:
    return {le: after[le] - before.get(le, 0.0) for le in after}


def histogram_quantile(cumulative: dict[float, float], q: float) -> float | None:
    """Prometheus' histogram_quantile: linear within the bucket the rank falls
    in (the lower bound of the first bucket is 0); the highest finite bound
    when it falls in +Inf. None when the histogram is empty."""
    bounds = sorted(cumulative)
    if not bounds or cumulative[bounds[-1]] <= 0:
        return None
    rank = q * cumulative[bounds[-1]]
    lower, below = 0.0, 0.0
    for le in bounds:
        count = cumulative[le]
        if count >= rank and count > below:
            if math.isinf(le):
                return lower
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = (le if not math.isinf(le) else lower), count
    return lower


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(max(math.ceil(p * len(ordered)) - 1, 0), len(ordered) - 1)]


@dataclass(frozen=True)
class Snapshot:
    """What is read before and after a measured run (CPU seconds; Postgres
    counters of the target's database)."""

    at: float
    server_cpu: float
    postgres_cpu: float
    redis_cpu: float
    machine_busy: float
    xact_commit: int
    xact_rollback: int


def run_figures(
    before: Snapshot,
    after: Snapshot,
    *,
    done: int,
    errors: int,
    latencies_s: list[float],
    client_cpu: float,
    server_hist: dict[float, float] | None = None,
) -> dict[str, Any]:
    """One measured run: throughput, latencies, CPU and transactions per
    checkout (``done``: successful checkouts)."""
    wall = max(after.at - before.at, 1e-9)
    per = max(done, 1)
    xacts = (after.xact_commit - before.xact_commit) + (after.xact_rollback - before.xact_rollback)
    server_cpu = after.server_cpu - before.server_cpu
    pg_cpu = after.postgres_cpu - before.postgres_cpu
    redis_cpu = after.redis_cpu - before.redis_cpu
    others = pg_cpu + redis_cpu
    busy = after.machine_busy - before.machine_busy
    out: dict[str, Any] = {
        "checkouts": done,
        "errors": errors,
        "seconds": round(wall, 3),
        "checkouts_per_second": round(done / wall, 1),
        "client_p50_ms": round(percentile(latencies_s, 0.50) * 1000, 1),
        "client_p99_ms": round(percentile(latencies_s, 0.99) * 1000, 1),
        "server_cpu_ms_per_checkout": round(server_cpu * 1000 / per, 2),
        "postgres_cpu_ms_per_checkout": round(pg_cpu * 1000 / per, 2),
        "redis_cpu_ms_per_checkout": round(redis_cpu * 1000 / per, 2),
        "client_cpu_ms_per_checkout": round(client_cpu * 1000 / per, 2),
        "client_cores": round(client_cpu / wall, 2),
        "xacts_per_checkout": round(xacts / per, 2),
        "commits_per_checkout": round((after.xact_commit - before.xact_commit) / per, 2),
        "rollbacks_per_checkout": round((after.xact_rollback - before.xact_rollback) / per, 2),
        # the machine's busy time not spent by the server, the client, Postgres
        # or Redis: other people's work on the shared cores
        "foreign_cores": round(max(busy - server_cpu - client_cpu - others, 0.0) / wall, 2),
    }
    if server_hist is not None:
        p50, p99 = histogram_quantile(server_hist, 0.5), histogram_quantile(server_hist, 0.99)
        out["server_p50_ms"] = None if p50 is None else round(p50 * 1000, 1)
        out["server_p99_ms"] = None if p99 is None else round(p99 * 1000, 1)
    return out


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median throughput (its latencies and CPU go with it)."""
    ordered = sorted(runs, key=lambda r: float(r["checkouts_per_second"]))
    return ordered[(len(ordered) - 1) // 2]


def ratio(onsale: dict[str, Any], ceiling: dict[str, Any]) -> float | None:
    c = float(ceiling.get("checkouts_per_second") or 0)
    return round(float(onsale.get("checkouts_per_second") or 0) / c, 3) if c else None


def goals(onsale: dict[str, Any], over_ceiling: float | None) -> dict[str, bool | None]:
    """Which of issue 16's goals the median onsale run meets."""
    p99 = onsale.get("server_p99_ms")
    share = None if over_ceiling is None else over_ceiling >= GOAL_OVER_CEILING
    return {
        "at_least_25pct_of_ceiling": share,
        "server_p99_under_500ms": None if p99 is None else p99 < GOAL_P99_MS,
        "at_most_2_xacts_per_checkout": float(onsale["xacts_per_checkout"]) <= GOAL_XACTS,
        "server_cpu_under_3ms": float(onsale["server_cpu_ms_per_checkout"]) < GOAL_SERVER_CPU_MS,
    }


def combine(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Each target's median round with every round's throughput, the ratio of
    the medians and of each round, and the goals."""
    names = sorted({name for r in rounds for name in r})
    targets = {
        name: {
            **median_run([r[name] for r in rounds if name in r]),
            "rounds_per_second": [r[name]["checkouts_per_second"] for r in rounds if name in r],
        }
        for name in names
    }
    out: dict[str, Any] = {"targets": targets}
    if "onsale" in targets and "ceiling" in targets:
        over = ratio(targets["onsale"], targets["ceiling"])
        both = [r for r in rounds if "onsale" in r and "ceiling" in r]
        by_round = [ratio(r["onsale"], r["ceiling"]) for r in both]
        out["onsale_over_ceiling"] = over
        out["onsale_over_ceiling_by_round"] = by_round
        out["onsale_over_ceiling_median_of_rounds"] = (
            statistics.median([x for x in by_round if x is not None]) if any(by_round) else None
        )
        out["goals"] = goals(targets["onsale"], over)
    return out


def _cell(value: Any, width: int) -> str:
    if value is None:
        return f"{'-':>{width}}"
    if isinstance(value, float):
        return f"{value:>{width}.1f}" if abs(value) >= 10 else f"{value:>{width}.2f}"
    return f"{value!s:>{width}}"


COLUMNS = (
    ("checkouts/s", "checkouts_per_second", 11),
    ("srv p50", "server_p50_ms", 8),
    ("srv p99", "server_p99_ms", 8),
    ("cli p50", "client_p50_ms", 8),
    ("cli p99", "client_p99_ms", 8),
    ("err", "errors", 4),
    ("srv ms", "server_cpu_ms_per_checkout", 7),
    ("pg ms", "postgres_cpu_ms_per_checkout", 6),
    ("redis ms", "redis_cpu_ms_per_checkout", 8),
    ("cli ms", "client_cpu_ms_per_checkout", 7),
    ("xacts", "xacts_per_checkout", 6),
    ("foreign", "foreign_cores", 7),
)


def table(result: dict[str, Any]) -> str:
    """The median run of each target (latencies in ms, CPU in ms per checkout)."""
    head = f"{'target':<8} " + " ".join(f"{title:>{w}}" for title, _, w in COLUMNS) + "  rounds/s"
    lines = [head, "-" * len(head)]
    for name, r in result["targets"].items():
        cells = " ".join(_cell(r.get(key), w) for _, key, w in COLUMNS)
        rounds = "/".join(f"{x:.0f}" for x in r.get("rounds_per_second", []))
        lines.append(f"{name:<8} {cells}  {rounds}")
    if "onsale_over_ceiling" in result:
        lines.append(
            f"onsale over the ceiling: {result['onsale_over_ceiling']} "
            f"(by round: {result['onsale_over_ceiling_by_round']})"
        )
        met = ", ".join(f"{k}={v}" for k, v in result["goals"].items())
        lines.append(f"goals: {met}")
    return "\n".join(lines)


# Where a py-spy sample's CPU goes: the package of its innermost frame whose
# file is named (the first of these in the path wins).
PACKAGES = (
    "asyncpg",
    "sqlalchemy",
    "redis",
    "uvicorn",
    "starlette",
    "httptools",
    "uvloop",
    "prometheus_client",
    "onsale",
    "asyncio",
    "json",
)


def _package(frame: str) -> str:
    path = frame[frame.rfind("(") + 1 :] if "(" in frame else frame
    for name in PACKAGES:
        if f"/{name}/" in path or f"/{name}." in path:
            return name
    return "other"


def by_package(lines: list[str], top: int = 15) -> dict[str, Any]:
    """A ``py-spy record -f raw`` file (``frame;frame;... count`` per line, the
    innermost frame last): the share of samples by the package of the
    innermost frame, and the top innermost frames."""
    shares: dict[str, int] = {}
    leaves: dict[str, int] = {}
    total = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        leaf = stack.split(";")[-1]
        shares[_package(leaf)] = shares.get(_package(leaf), 0) + n
        leaves[leaf] = leaves.get(leaf, 0) + n
        total += n
    pct = {k: round(100 * v / total, 1) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}
    top_leaves = sorted(leaves.items(), key=lambda kv: -kv[1])[:top]
    return {
        "samples": total,
        "percent_by_package": pct,
        "top_self": [{"frame": f, "percent": round(100 * n / total, 1)} for f, n in top_leaves],
    }
