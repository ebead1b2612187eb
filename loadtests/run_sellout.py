"""A headless sell-out with Locust, then the verdict (exit 1 on any violation).

    python loadtests/run_sellout.py                       # embedded backends, ~1 min
    python loadtests/run_sellout.py --fans 2000 --seconds 300 --url https://rehearsal...

Without --url it starts `onsale serve` on a free loopback port (with the
backends named by ONSALE_REDIS_URL / ONSALE_DATABASE_URL, else embedded ones
under a temporary folder), creates a venue and an event whose pre-queue is
open and whose sale opens a few seconds later, and runs the Fan, BoxOffice and
Browser users, and one Intruder (sockets with no, empty, garbage or forged
queue tokens: it never joins over HTTP), until the event is sold out or the
time is up. Then:
- `onsale verify --event ID` against Postgres and Redis (local runs): no seat in
  two live tickets, no section over capacity, no payment without its order, no
  order without its payment;
- the record of what fans were told: every 201 checkout's order exists, paid,
  with the same seats; no two orders for one idempotency key; no place lost;
  no intruder socket told anything but a 4401 close (I8: nobody enters the
  queue without the join's guards). The verdict counts the intruder's knocks.
- the longest queue stall (places free, fans waiting, nobody admitted), as
  the server measured it: over `--stall-bound` seconds fails the run.
- Locust's failures: any 500 answer fails the verdict (API.md: a 500 is a bug).
Loopback or the given URL only; bounded in time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

import launch
from onsale.embedded import start_embedded
from scenario import event_body, server_longest_stall, stall_problems

HERE = Path(__file__).resolve().parent


def sellout_event(
    *, ga: int, rows: int, opens_in: float, rate: int, max_active: int = 100
) -> dict[str, Any]:
    admission = {
        "rate_per_minute": rate,
        "max_active": max_active,
        "session_seconds": 300,
        "absent_grace_seconds": 30,
    }
    return event_body(
        "Sell-out rehearsal",
        admission=admission,
        ga=ga,
        seated_rows=rows,
        seats_per_row=10,
        opens_in=opens_in,
        closes_in=timedelta(days=6),
        hold_seconds=60,
    )


def create_event(url: str, admin_token: str, body: dict[str, Any]) -> tuple[str, str]:
    venue = httpx.post(
        f"{url}/api/admin/venues",
        timeout=10,
        headers={"Authorization": f"Bearer {admin_token}"},
        json={
            "name": "Rehearsal hall",
            "slug": f"rehearsal-{secrets.token_hex(4)}",
            "timezone": "Europe/Paris",
        },
    ).json()
    event = httpx.post(
        f"{url}/api/admin/events",
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {venue['api_key']}"},
    )
    event.raise_for_status()
    return str(event.json()["id"]), str(venue["api_key"])


def run_locust(
    url: str, env: dict[str, str], fans: int, seconds: int, stats: Path, sold_out: Any
) -> int:
    """Locust headless until ``sold_out()`` says so or the time is up."""
    return finish_locust(start_locust(url, env, fans, seconds, stats), seconds, sold_out)


def start_locust(
    url: str, env: dict[str, str], fans: int, seconds: int, stats: Path, *, stop_timeout: int = 10
) -> subprocess.Popen[bytes]:
    """The Fan, BoxOffice and Browser suites, headless, for ``seconds``."""
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(HERE / "locustfile.py"),
        "Fan",
        "BoxOffice",
        "Browser",
        "Intruder",
        "--headless",
        "-u",
        str(fans),
        "-r",
        str(max(fans // 5, 1)),
        "-t",
        f"{seconds}s",
        "--host",
        url,
        "--only-summary",
        "--csv",
        str(stats),
        "--stop-timeout",
        str(stop_timeout),
        "--loglevel",
        "WARNING",
    ]
    return subprocess.Popen(cmd, env=env)


def finish_locust(proc: subprocess.Popen[bytes], seconds: int, sold_out: Any) -> int:
    """Wait until ``sold_out()`` says so (then stop Locust) or the time is up;
    Locust's exit code."""
    deadline = time.monotonic() + seconds + 60
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
        if sold_out():
            time.sleep(3)  # let the last checkouts answer
            proc.send_signal(signal.SIGTERM)
            break
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def read_record(folder: Path) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for path in sorted(folder.glob("record-*.jsonl")):
        lines.extend(json.loads(line) for line in path.read_text().splitlines() if line)
    return lines


def check_record(record: list[dict[str, Any]], orders: dict[str, Any]) -> list[str]:
    """Violations between what fans were told and what the venue's data says."""
    problems: list[str] = []
    for line in record:
        if line["kind"] == "paid":
            order = orders.get(line["order_id"])
            if order is None:
                problems.append(f"a fan was told order {line['order_id']} but it is missing")
            elif order["status"] != "paid" or sorted(
                t["seat"] or "" for t in order["tickets"]
            ) != sorted(s or "" for s in line["seats"]):
                problems.append(f"order {line['order_id']} differs from what the fan was told")
        elif line["kind"] == "double_order":
            problems.append(f"one idempotency key gave two orders: {line['orders']}")
        elif line["kind"] == "place_lost":
            problems.append(
                f"queue entry {line['entry']} lost its place ({line['before']} -> {line['after']})"
            )
        elif line["kind"] == "token_refused":
            problems.append(f"queue entry {line['entry']} was refused its own queue token")
        elif line["kind"] == "intruder" and line.get("outcome") == "got_in":
            problems.append(
                f"an intruder socket ({line.get('attempt')}) was sent a "
                f"{line.get('detail')!r} message instead of a 4401 close (I8)"
            )
    return problems


def intruders(record: list[dict[str, Any]]) -> dict[str, Any]:
    """The Intruder's knocks (sockets without a guarded join), by outcome and
    by what it knocked with: every one must be "refused" (4401) or an outage."""
    lines = [line for line in record if line["kind"] == "intruder"]
    by_outcome: dict[str, int] = {}
    by_attempt: dict[str, dict[str, int]] = {}
    for line in lines:
        outcome = str(line.get("outcome"))
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
        of_attempt = by_attempt.setdefault(str(line.get("attempt")), {})
        of_attempt[outcome] = of_attempt.get(outcome, 0) + 1
    return {
        "attempts": len(lines),
        "refused_4401": by_outcome.get("refused", 0),
        "got_in": by_outcome.get("got_in", 0),
        "by_outcome": dict(sorted(by_outcome.items())),
        "by_attempt": dict(sorted(by_attempt.items())),
    }


# A failure of the locustfile ("checkout 500: ...", "declined card answered
# 500") or of Locust itself ("HTTPError('500 ...')"): a 500 at the start.
_A_500 = re.compile(r"^\w+\(['\"](?:[a-z ]+ )?500\b")


def server_errors(failures_csv: Path) -> list[str]:
    """Locust's failures that were 500 answers, one violation per request type."""
    if not failures_csv.exists():
        return []
    with failures_csv.open(newline="", encoding="utf-8") as f:
        return [
            f"{row['Occurrences']} answers 500 to {row['Method']} {row['Name']}"
            f" (API.md: a bug): {row['Error'][:160]}"
            for row in csv.DictReader(f)
            if _A_500.search(row["Error"])
        ]


def verify(env: dict[str, str], event_id: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "onsale.cli", "verify", "--event", event_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        report = {"ok": False, "violations": [f"verify failed: {done.stderr[-500:]}"]}
    return report


def _counts(record: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in record:
        out[line["kind"]] = out.get(line["kind"], 0) + 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running onsale (then --admin-token)")
    parser.add_argument("--admin-token", default=os.environ.get("ONSALE_ADMIN_TOKEN", ""))
    parser.add_argument("--fans", type=int, default=200, help="concurrent Locust users")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--ga", type=int, default=150, help="general-admission places")
    parser.add_argument("--rows", type=int, default=5, help="seated rows of 10")
    parser.add_argument("--rate", type=int, default=600, help="admissions per minute")
    parser.add_argument(
        "--stall-bound",
        type=float,
        default=30.0,
        help="fail on a queue stall longer than this many seconds (0: report only)",
    )
    args = parser.parse_args()
    seconds = min(args.seconds, 3600)

    work = Path(tempfile.mkdtemp(prefix="onsale-sellout-"))
    token = args.admin_token or secrets.token_urlsafe(16)
    env = launch.onsale_env(token, ONSALE_DATA_DIR=str(work / "data"))
    server = None
    backends = None
    url = args.url
    if url is None:
        if not (env.get("ONSALE_REDIS_URL") and env.get("ONSALE_DATABASE_URL")):
            # Started here, not by `onsale serve`: `onsale verify` needs them
            # too, and a data folder serves one process at a time.
            backends = start_embedded(work / "backends")
            env["ONSALE_REDIS_URL"] = env.get("ONSALE_REDIS_URL") or str(backends.redis_url)
            env["ONSALE_DATABASE_URL"] = env.get("ONSALE_DATABASE_URL") or str(
                backends.database_url
            )
        server = launch.onsale(env).start()
        url = server.url
    try:
        event_id, venue_key = create_event(
            url, token, sellout_event(ga=args.ga, rows=args.rows, opens_in=3, rate=args.rate)
        )
        lt_env = {
            **env,
            "ONSALE_LT_EVENT": event_id,
            "ONSALE_LT_VENUE_KEY": venue_key,
            "ONSALE_LT_RECORD": str(work / "record"),
        }
        admin = {"Authorization": f"Bearer {venue_key}"}

        def sold_out() -> bool:
            stats = httpx.get(
                f"{url}/api/admin/events/{event_id}/stats", headers=admin, timeout=10
            ).json()
            return bool(stats["sold"] >= stats["capacity"])

        started = time.monotonic()
        locust_rc = run_locust(url, lt_env, args.fans, seconds, work / "stats", sold_out)
        took = time.monotonic() - started
        time.sleep(2)
        stats = httpx.get(
            f"{url}/api/admin/events/{event_id}/stats", headers=admin, timeout=10
        ).json()
        orders = {
            o["order_id"]: o
            for o in httpx.get(
                f"{url}/api/admin/events/{event_id}/orders", headers=admin, timeout=30
            ).json()["orders"]
        }
        record = read_record(work / "record")
        problems = check_record(record, orders) + server_errors(work / "stats_failures.csv")
        report: dict[str, Any] = (
            verify(env, event_id)
            if server
            else {"ok": True, "violations": [], "skipped": "remote server"}
        )
        problems += report.get("violations", [])
        longest = server_longest_stall(url, event_id, env.get("ONSALE_METRICS_TOKEN", ""))
        problems += stall_problems(longest, args.stall_bound)
        verdict = {
            "ok": not problems,
            "event_id": event_id,
            "seconds": round(took, 1),
            "sold": stats["sold"],
            "capacity": stats["capacity"],
            "orders": stats["orders"],
            "fans_told": _counts(record),
            "intruders": intruders(record),
            "longest_stall_seconds": longest,
            "violations": problems,
            "verify": report,
            "locust_exit_code": locust_rc,
            "stats_csv": str(work / "stats_stats.csv"),
        }
        print(json.dumps(verdict, indent=2))
        print("VERDICT:", "PASS" if verdict["ok"] else "FAIL")
        return 0 if verdict["ok"] else 1
    finally:
        if server:
            server.stop()
        if backends:
            backends.stop()


if __name__ == "__main__":
    raise SystemExit(main())
