"""bench_holds.py's profile summary: where the server's CPU goes per hold, from
the raw stacks of ``py-spy record -f raw``. Pure, but for ``summarize``
reading the file."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

# Where one sample's CPU goes: the first rule that matches wins, so the shares
# add up to 100%. "any" rules match a frame anywhere in the stack (the step of
# the hold handler it is under); "leaf" rules match the innermost frame only
# (the framework code that was running itself).
CATEGORIES: list[tuple[str, str, str]] = [
    ("background tasks (admission ticker, reconciler)", "any", r"^Runtime\._every "),
    (
        "token verification (tokens.verify, access_claims)",
        "any",
        r"\(onsale/tokens\.py|^(access_claims|claims_of) ",
    ),
    ("event cache lookup (EventCatalog.get)", "any", r"^EventCatalog\.get "),
    (
        "read_json / receive_json (body + json.loads + _check_json)",
        "any",
        r"^(read_json|receive_json) \(onsale/http",
    ),
    ("sale window check (Event.status + datetime.now)", "any", r"^Event\.status "),
    ("parse_hold", "any", r"^parse_hold "),
    ("new_hold_id (secrets.token_hex)", "any", r"^new_hold_id "),
    (
        "Redis call (onsale's script lane or redis-py: pool, pack, send, hiredis read)",
        "any",
        r"\(redis/|^(Lane\.\w+|_pack) \(onsale/redis",
    ),
    (
        "store.hold wrapper (event_keys, json.dumps, Scripts.call, _ok)",
        "any",
        r"^(InventoryStore\.(hold|_run|keys)|event_keys|Scripts\.call|_ok) ",
    ),
    ("Hold.from_record (json.loads of the reply)", "any", r"^Hold\.from_record "),
    ("hold_json (dict + datetime isoformat)", "any", r"^hold_json "),
    (
        "JSON response (render, headers, send through middlewares + uvicorn)",
        "any",
        r"^(JSON\.render|render_json|JSONResponse\.__init__|Response\.__(init|call)__) ",
    ),
    (
        "create_hold / InventoryService.hold, other",
        "any",
        r"^(create_hold|create_hold_hot|_hold|InventoryService\.hold) ",
    ),
    (
        "onsale middleware and http.py (own frames)",
        "leaf",
        r"\(onsale/(http|monitoring/middleware)\.py",
    ),
    ("starlette request/routing/middleware (own frames)", "leaf", r"\(starlette/"),
    ("uvicorn protocol (HTTP parsing, run_asgi, own frames)", "leaf", r"\(uvicorn/"),
    (
        "event loop (asyncio/uvloop, own frames)",
        "leaf",
        r"\(asyncio/|^Runner\.run |^asyncio_run |uvloop",
    ),
]


def _frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rpartition(" ")
    return [_relative(f) for f in stack.split(";")], int(count)


def _relative(frame: str) -> str:
    """``f (/x/site-packages/redis/client.py:3)`` -> ``f (redis/client.py:3)``."""
    for root in (r"site-packages", r"src", r"python3\.\d+"):
        short = re.sub(rf"\(/[^()]*/{root}/", "(", frame, count=1)
        if short != frame:
            return short
    return frame


def _short(frame: str) -> str:
    return re.sub(r":\d+\)$", ")", frame)


def _category(frames: list[str]) -> str:
    for name, where, pattern in CATEGORIES:
        looked_at = frames if where == "any" else frames[-1:]
        if any(re.search(pattern, f) for f in looked_at):
            return name
    return "other"


def summarize(path: Path, requests: int, rate: int) -> dict[str, Any]:
    """``summarize_lines`` of a ``py-spy record -f raw`` file."""
    return summarize_lines(path.read_text().splitlines()[:1_000_000], requests, rate)


def summarize_lines(lines: list[str], requests: int, rate: int) -> dict[str, Any]:
    """Self and cumulative costs of ``py-spy record -f raw`` lines (a stack,
    frames split by ";", then a space and the sample count), as CPU
    microseconds per request (samples / rate / requests) and % of samples."""
    self_cost, cumulative, cats = Counter[str](), Counter[str](), Counter[str]()
    total = 0
    for line in lines:
        if not line.strip():
            continue
        frames, count = _frames(line)
        total += count
        self_cost[_short(frames[-1])] += count
        for name in {_short(f) for f in frames}:
            cumulative[name] += count
        cats[_category(frames)] += count

    def row(name: str, n: int) -> dict[str, Any]:
        us = n / rate / requests * 1e6 if requests else 0.0
        return {
            "frame": name,
            "pct": round(100 * n / total, 1) if total else 0,
            "us_per_request": round(us, 1),
        }

    return {
        "samples": total,
        "rate_hz": rate,
        "requests": requests,
        "sampled_cpu_us_per_request": round(total / rate / requests * 1e6, 1) if requests else 0,
        "categories": [row(c, n) for c, n in cats.most_common()],
        "top_self": [row(f, n) for f, n in self_cost.most_common(25)],
        "top_cumulative": [row(f, n) for f, n in cumulative.most_common(40)],
    }


def scaled(profile: dict[str, Any], cpu_us: float | None) -> dict[str, Any]:
    """Sampling inflates absolute costs (py-spy pauses the process): give each
    row its share of the server CPU per hold measured without the profiler."""
    if not cpu_us:
        return profile
    out = dict(profile, measured_server_cpu_us_per_hold=cpu_us)
    for key in ("categories", "top_self", "top_cumulative"):
        out[key] = [
            {**row, "measured_us_per_hold": round(row["pct"] * cpu_us / 100, 1)}
            for row in profile[key]
        ]
    return out
