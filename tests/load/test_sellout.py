"""A small sell-out with Locust, run as `make loadtest` runs it, against the
test servers: the verdict must pass (it fails on any oversold seat, a seat in
two live tickets, GA over capacity, a payment without its order or the
reverse, a 201 whose order is missing, a place lost, or an intruder socket
let in)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis.asyncio as aredis

from onsale.settings import Settings

SELLOUT_DB = "onsale_test_sellout"
SELLOUT_REDIS_DB = 14


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


async def _fresh_backends(settings: Settings) -> tuple[str, str]:
    assert settings.database_url and settings.redis_url
    conn = await asyncpg.connect(_with_path(settings.database_url, "/postgres"))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {SELLOUT_DB} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {SELLOUT_DB}")
    finally:
        await conn.close()
    redis_url = _with_path(settings.redis_url, f"/{SELLOUT_REDIS_DB}")
    client = aredis.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    return redis_url, _with_path(settings.database_url, f"/{SELLOUT_DB}")


@pytest.mark.timeout(240)
async def test_a_small_sellout_passes_its_verdict(settings: Settings) -> None:
    redis_url, database_url = await _fresh_backends(settings)
    env = {
        **os.environ,
        "ONSALE_REDIS_URL": redis_url,
        "ONSALE_DATABASE_URL": database_url,
        "ONSALE_REDIS_PREFIX": "sellout",
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "loadtests/run_sellout.py",
            "--fans",
            "40",
            "--seconds",
            "30",
            "--ga",
            "30",
            "--rows",
            "2",
            "--rate",
            "1200",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    verdict = json.loads(done.stdout[done.stdout.index("{") : done.stdout.rindex("}") + 1])
    assert verdict["ok"] and verdict["violations"] == []
    assert verdict["fans_told"].get("paid", 0) > 0
    assert verdict["verify"]["ok"]
    assert 0 < verdict["sold"] <= verdict["capacity"] == 50
    # The intruder's sockets (no, empty, garbage, forged tokens) were all refused.
    intruders = verdict["intruders"]
    assert intruders["attempts"] > 0 and intruders["refused_4401"] == intruders["attempts"]
    # The server measured the queue's stalls (admitted fans who left are
    # parked): the verdict fails on one over 30 s.
    assert verdict["longest_stall_seconds"] is not None
    assert verdict["longest_stall_seconds"] <= 30
