"""bench_holds.py's profile summary of py-spy's raw stacks."""

from __future__ import annotations

from pathlib import Path

from holds_profile import scaled, summarize, summarize_lines

SITE = "/x/.venv/lib/python3.11/site-packages"
HOLD = "create_hold (/w/src/onsale/inventory/routes.py:40)"
TOKENS = "access_claims (/w/src/onsale/tokens.py:12)"
REDIS = f"Connection.send (/{SITE}/redis/connection.py:500)"
UVICORN = f"run_asgi ({SITE}/uvicorn/protocols/http/httptools_impl.py:401)"
LINES = [
    f"{UVICORN};{HOLD};{TOKENS} 30",
    f"{UVICORN};{HOLD};{REDIS} 50",
    f"{UVICORN} 20",
    "",
]


def test_costs_per_request_from_samples_rate_and_requests() -> None:
    s = summarize_lines(LINES, requests=1000, rate=100)
    assert s["samples"] == 100
    # 100 samples at 100 Hz = 1 s of CPU over 1000 requests = 1000 us each
    assert s["sampled_cpu_us_per_request"] == 1000.0
    cats = {c["frame"]: c for c in s["categories"]}
    assert cats["token verification (tokens.verify, access_claims)"]["pct"] == 30.0
    redis_call = next(c for c in cats if c.startswith("Redis call"))
    assert cats[redis_call]["us_per_request"] == 500.0
    assert cats["uvicorn protocol (HTTP parsing, run_asgi, own frames)"]["pct"] == 20.0
    assert sum(c["pct"] for c in s["categories"]) == 100.0  # first match wins


def test_frames_are_shortened_to_their_package_and_counted_once_per_stack() -> None:
    s = summarize_lines(LINES, requests=1000, rate=100)
    top_self = {r["frame"]: r["pct"] for r in s["top_self"]}
    assert top_self["access_claims (onsale/tokens.py)"] == 30.0
    cumulative = {r["frame"]: r["pct"] for r in s["top_cumulative"]}
    assert cumulative["create_hold (onsale/inventory/routes.py)"] == 80.0
    assert cumulative["run_asgi (uvicorn/protocols/http/httptools_impl.py)"] == 100.0


def test_no_request_no_division(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text("\n".join(LINES))
    s = summarize(raw, requests=0, rate=100)
    assert s["samples"] == 100 and s["sampled_cpu_us_per_request"] == 0
    assert all(r["us_per_request"] == 0 for r in s["top_self"])


def test_scaled_gives_each_row_its_share_of_the_measured_cpu() -> None:
    s = summarize_lines(LINES, requests=1000, rate=100)
    out = scaled(s, 200.0)
    assert out["measured_server_cpu_us_per_hold"] == 200.0
    by = {r["frame"]: r["measured_us_per_hold"] for r in out["categories"]}
    assert by["token verification (tokens.verify, access_claims)"] == 60.0
    assert scaled(s, None) is s
