"""bench_checkout.py end to end at a tiny size (6 buyers, 2 at once, one
worker, one round, no settle): its own Postgres and Redis start, onsale and
the bare transaction each complete every checkout, and the report has the
figures the table is made of. Seconds, not a benchmark: no figure is judged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
SRC = LOADTESTS.parent / "src"


def test_one_tiny_round_of_onsale_and_the_ceiling() -> None:
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    args = ["--buyers", "6", "--concurrency", "2", "--workers", "1", "--clients", "1"]
    args += ["--rounds", "1", "--settle", "0", "--timeout", "60"]
    done = subprocess.run(
        [sys.executable, str(LOADTESTS / "bench_checkout.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    onsale, ceiling = report["targets"]["onsale"], report["targets"]["ceiling"]
    assert onsale["statuses"] == {"201": 6}
    assert ceiling["statuses"] == {"201": 6, "409": 0}
    assert onsale["server_p99_ms"] is not None and onsale["server_cpu_ms_per_checkout"] > 0
    assert onsale["xacts_per_checkout"] > 0 and onsale["statements"]
    assert report["onsale_over_ceiling"] is not None
    assert set(report["goals"]) == {
        "at_least_25pct_of_ceiling",
        "server_p99_under_500ms",
        "at_most_2_xacts_per_checkout",
        "server_cpu_under_3ms",
    }
