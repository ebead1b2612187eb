"""bench_checkout.py's own Postgres and Redis (onsale's embedded launcher:
the machine's binaries, a temporary folder, free loopback ports), so that
their processes' CPU is this bench's alone; and what is read from them:
pg_stat_database's counters, pg_stat_statements, lock waits.

The Postgres runs with pg_stat_statements preloaded and max_connections 300
(two workers' pools and the ceiling's lanes at once); onsale uses database
``onsale``, the ceiling database ``ceiling``, so each has its own counters.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

import procstat
from onsale.embedded import EmbeddedServers, start_embedded

SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "max_connections": "300",
}


class Backends:
    def __init__(self, folder: Path) -> None:
        self.servers: EmbeddedServers = start_embedded(folder, database="onsale")
        pg, rd = self.servers._postgres, self.servers._redis
        assert pg is not None and rd is not None
        self.pg, self.redis_pid = pg, rd.proc.pid
        self.redis_url = str(self.servers.redis_url)
        self.onsale_dsn = str(self.servers.database_url)
        self.root_dsn = self.onsale_dsn.rsplit("/", 1)[0] + "/postgres"
        self.ceiling_dsn = self.onsale_dsn.rsplit("/", 1)[0] + "/ceiling"
        try:
            asyncio.run(self._configure())
            # the settings above take a restart (shared_preload_libraries)
            pg.stop_server()
            pg.launch(folder / "pg-run" / "postgres-bench.log")
            asyncio.run(self._extension())
        except BaseException:
            self.servers.stop()
            raise

    async def _configure(self) -> None:
        conn = await asyncpg.connect(self.root_dsn)
        try:
            for name, value in SETTINGS.items():
                await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            await conn.execute("DROP DATABASE IF EXISTS ceiling")
            await conn.execute("CREATE DATABASE ceiling")
        finally:
            await conn.close()

    async def _extension(self) -> None:
        conn = await asyncpg.connect(self.onsale_dsn)
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        finally:
            await conn.close()

    def postgres_pid(self) -> int:
        return int((self.pg.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])

    def cpu(self) -> tuple[float, float]:
        """CPU seconds of Postgres (the postmaster, its live backends, and
        those that exited: the postmaster's reaped children) and Redis."""
        stats = procstat.all_stats()
        pid = self.postgres_pid()
        pg = procstat.cpu_seconds(procstat.tree(pid, stats), stats) + reaped_cpu(pid)
        return pg, procstat.cpu_seconds([self.redis_pid], stats)

    def stop(self) -> None:
        self.servers.stop()


def reaped_cpu(pid: int) -> float:
    """cutime + cstime of ``pid`` (fields 16 and 17 of /proc/<pid>/stat): the
    CPU of its children that exited and were waited for."""
    try:
        raw = (procstat.PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    rest = raw[raw.rindex(")") + 2 :].split()
    return (int(rest[13]) + int(rest[14])) / procstat.CLK_TCK


async def db_counters(root_dsn: str, database: str) -> dict[str, int]:
    """pg_stat_database's transaction and session counters of ``database``
    (flushed by each backend at most once a second while busy, and 10 s
    after it went idle: read them after a settle)."""
    conn = await asyncpg.connect(root_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT xact_commit, xact_rollback, sessions FROM pg_stat_database WHERE datname = $1",
            database,
        )
    finally:
        await conn.close()
    assert row is not None
    return {k: int(row[k]) for k in ("xact_commit", "xact_rollback", "sessions")}


async def statements_reset(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_stat_statements_reset()")
    finally:
        await conn.close()


async def statements(dsn: str, per: int, top: int = 30) -> list[dict[str, Any]]:
    """The onsale database's statements since the reset, most called first,
    per checkout (``per``)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT s.query, s.calls, s.total_exec_time, s.rows, s.shared_blks_hit"
            " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
            " WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat%'"
            " ORDER BY s.calls DESC LIMIT $1",
            top,
        )
    finally:
        await conn.close()
    n = max(per, 1)
    return [
        {
            "query": " ".join(str(r["query"]).split())[:160],
            "calls_per_checkout": round(r["calls"] / n, 2),
            "ms_per_call": round(r["total_exec_time"] / max(r["calls"], 1), 3),
            "rows_per_call": round(r["rows"] / max(r["calls"], 1), 2),
            "blocks_per_call": round(r["shared_blks_hit"] / max(r["calls"], 1), 1),
        }
        for r in rows
    ]


async def scans(dsn: str) -> dict[str, int]:
    """Sequential and index scans so far, by table and by index (delta two
    readings: which access path each checkout statement took)."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT relname, seq_scan, seq_tup_read, idx_scan FROM pg_stat_user_tables"
        )
        indexes = await conn.fetch(
            "SELECT indexrelname, idx_scan, idx_tup_read FROM pg_stat_user_indexes"
        )
    finally:
        await conn.close()
    out: dict[str, int] = {}
    for t in tables:
        out[f"{t['relname']}.seq_scan"] = int(t["seq_scan"] or 0)
        out[f"{t['relname']}.seq_tup_read"] = int(t["seq_tup_read"] or 0)
    for i in indexes:
        out[f"{i['indexrelname']}.idx_scan"] = int(i["idx_scan"] or 0)
        out[f"{i['indexrelname']}.idx_tup_read"] = int(i["idx_tup_read"] or 0)
    return out


@dataclass
class LockSampler:
    """Samples pg_stat_activity every ``interval`` s in a thread: sessions of
    ``database`` that are active, and those waiting on a lock."""

    root_dsn: str
    database: str
    interval: float = 0.1
    samples: list[tuple[int, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> LockSampler:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.root_dsn)
        try:
            for _ in range(100_000):  # bounded: 10,000 s at 0.1 s
                if self._stop.is_set():
                    return
                row = await conn.fetchrow(
                    "SELECT count(*) AS total,"
                    " count(*) FILTER (WHERE state <> 'idle') AS active,"
                    " count(*) FILTER (WHERE wait_event_type = 'Lock') AS locked"
                    " FROM pg_stat_activity WHERE datname = $1",
                    self.database,
                )
                assert row is not None
                self.samples.append((int(row["total"]), int(row["active"]), int(row["locked"])))
                await asyncio.sleep(self.interval)
        finally:
            await conn.close()

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {}
        n = len(self.samples)
        return {
            "sessions_mean": round(sum(s[0] for s in self.samples) / n, 1),
            "active_mean": round(sum(s[1] for s in self.samples) / n, 1),
            "waiting_on_lock_mean": round(sum(s[2] for s in self.samples) / n, 1),
        }
