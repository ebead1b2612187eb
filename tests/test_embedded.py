"""Real embedded Redis + PostgreSQL servers (no mocks)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
import redis

from onsale.embedded import EmbeddedServers, start_embedded


def _port(url: str | None) -> int:
    assert url is not None
    port = urlsplit(url).port
    assert port is not None
    return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _ping(url: str | None) -> bool:
    assert url is not None
    client = redis.Redis.from_url(url)
    try:
        return bool(client.ping())
    finally:
        client.close()


async def _fetch_rows(url: str | None) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        await conn.execute("CREATE TABLE IF NOT EXISTS t (v text)")
        return [r["v"] for r in await conn.fetch("SELECT v FROM t ORDER BY v")]
    finally:
        await conn.close()


async def _insert(url: str | None, value: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("INSERT INTO t (v) VALUES ($1)", value)
    finally:
        await conn.close()


def _assert_down(servers: EmbeddedServers) -> None:
    assert not _answers(_port(servers.redis_url))
    assert not _answers(_port(servers.database_url))


def test_start_use_stop_restart_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    servers = start_embedded(data_dir)
    try:
        assert servers.database_url is not None
        assert servers.database_url.startswith("postgresql://postgres@127.0.0.1:")
        assert servers.database_url.endswith("/onsale")
        assert _ping(servers.redis_url)
        assert asyncio.run(_fetch_rows(servers.database_url)) == []
        asyncio.run(_insert(servers.database_url, "order-1"))
    finally:
        servers.stop()
    servers.stop()  # idempotent
    _assert_down(servers)

    with start_embedded(data_dir) as again:
        assert _ping(again.redis_url)
        assert asyncio.run(_fetch_rows(again.database_url)) == ["order-1"]
    _assert_down(again)


def test_only_redis_and_data_dir_is_exclusive(tmp_path: Path) -> None:
    with start_embedded(tmp_path, postgres=False) as servers:
        assert servers.database_url is None
        assert _ping(servers.redis_url)
        with pytest.raises(RuntimeError, match="already used"):
            start_embedded(tmp_path, postgres=False)
    assert not _answers(_port(servers.redis_url))


_CRASHING_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from onsale.embedded import start_embedded
    servers = start_embedded(Path(sys.argv[1]))
    print(servers.redis_url, servers.database_url, flush=True)
    time.sleep(60)
    """
)


def test_recovers_after_owner_was_killed(tmp_path: Path) -> None:
    # Deep path: the unix socket must fall back to a short temporary dir.
    data_dir = tmp_path / ("x" * 60) / ("y" * 60)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    child = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_CHILD, str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    with child.stdout:
        redis_url, database_url = child.stdout.readline().split()
    child.send_signal(signal.SIGKILL)  # no atexit: servers are orphaned
    child.wait()
    assert _ping(redis_url)

    with start_embedded(data_dir) as servers:
        assert _ping(servers.redis_url)
        assert asyncio.run(_fetch_rows(servers.database_url)) == []
        assert not _answers(_port(redis_url))
        assert not _answers(_port(database_url))
    _assert_down(servers)
