"""The Postgres engine of a process and the schema migrations."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

# Errors that mean "Postgres is not there right now": answered with 503.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    ConnectionError,
    OSError,
)
# SQLSTATEs of a server that is shutting down, starting up or has cut the
# connection (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03
# cannot_connect_now, class 08): asyncpg raises them as plain PostgresErrors,
# which SQLAlchemy wraps in a bare DBAPIError, not an OperationalError.
UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03", "08")


def unavailable(exc: BaseException) -> bool:
    """True if ``exc`` means Postgres is not there right now (answer 503)."""
    if isinstance(exc, UNAVAILABLE_ERRORS):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        state = str(getattr(exc.orig, "sqlstate", None) or "")
        return state.startswith(UNAVAILABLE_SQLSTATES)
    return False


def async_url(url: str) -> str:
    """``postgresql://...`` as SQLAlchemy's asyncpg URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]!r}")


# Connections a worker keeps open (ONSALE_DB_POOL_SIZE; ONSALE_DB_POOL_WARM of
# them opened at start by ``warm``), never closed for being idle, so that no
# checkout pays for a new session and its statements prepared afresh. Two
# workers of 30 stay under Postgres' default max_connections of 100.
DEFAULT_POOL_SIZE = 30
# Statements prepared once per connection and kept (asyncpg through
# SQLAlchemy's dialect): checkout's dozen statements, the admin's, the
# reconciler's fit with room to spare.
STATEMENT_CACHE_SIZE = 256


def create_engine(
    url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    hide_parameters: bool = True,
    check_alive: bool = True,
) -> AsyncEngine:
    """The process' engine. ``hide_parameters`` keeps the bound values of a
    statement (a buyer's e-mail and name, a queue entry) out of the text of
    its errors, which are logged; False only to show, in a test, what leaks
    without it.

    No pre-ping: SQLAlchemy's costs a transaction (BEGIN, a query, ROLLBACK:
    three round trips) every time a connection leaves the pool: 8 of the 16
    Postgres transactions of a checkout (bench_checkout.py). Instead
    ``check_alive`` looks, at no cost, at whether asyncpg has seen the
    connection close (a terminated
    backend, a restarted server, a cut socket: Postgres says goodbye and the
    event loop reads it within milliseconds), and if so the pool drops it and
    takes or opens another (SQLAlchemy retries a checkout refused that way).
    A connection that dies in the instant between that look and the first
    statement fails that request (503) and SQLAlchemy invalidates the pool's
    older connections; pre-ping had the same window between its ping and the
    statement. False only in the test that shows a dead pooled connection
    failing a checkout without it.
    """
    # A fixed pool, no overflow: overflow connections were closed as soon as
    # they came back (45-75 new sessions per 1,500 checkouts), each new one
    # preparing every statement again. Past ``pool_size`` busy connections a
    # request waits up to 10 s for one, then 503.
    engine = create_async_engine(
        async_url(url),
        hide_parameters=hide_parameters,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=10,
        pool_pre_ping=False,
        connect_args={
            "timeout": 5,
            "command_timeout": 10,
            "prepared_statement_cache_size": STATEMENT_CACHE_SIZE,
            "server_settings": {"lock_timeout": "3000", "application_name": "onsale"},
        },
    )
    if check_alive:
        event.listen(engine.sync_engine.pool, "checkout", _refuse_closed)
    return engine


def _refuse_closed(dbapi_conn: Any, record: Any, proxy: Any) -> None:
    """Pool checkout hook: a connection asyncpg knows is closed is refused
    (the pool discards it and retries with another). No round trip."""
    raw = getattr(dbapi_conn, "_connection", None)
    if raw is not None and raw.is_closed():
        raise sa_exc.DisconnectionError("the connection was closed by the server")


async def warm(engine: AsyncEngine, connections: int) -> None:
    """Open ``connections`` pooled connections now (each held until all are
    open, else the pool would hand the same one back), so that the first
    requests do not each pay for a new session."""
    try:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(connections):
                await stack.enter_async_context(engine.connect())
    except UNAVAILABLE_ERRORS as exc:  # the requests will open them
        log.warning("postgres pool warm-up stopped: %s", exc)


def _alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("onsale") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    return cfg


def upgrade_sync(url: str) -> None:
    """Bring the schema to the latest revision (blocking; runs its own loop)."""
    command.upgrade(_alembic_config(url), "head")


async def upgrade(url: str) -> None:
    """Bring the schema to the latest revision from async code."""
    await asyncio.to_thread(upgrade_sync, url)


async def wait_ready(engine: AsyncEngine, *, attempts: int = 20, warm_up: int = 0) -> None:
    """Wait for Postgres to answer, with a log line per failed attempt; then
    open ``warm_up`` pooled connections (see :func:`warm`)."""
    for attempt in range(1, attempts + 1):
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            if warm_up > 0:
                await warm(engine, warm_up)
            return
        except UNAVAILABLE_ERRORS as exc:
            if attempt == attempts:
                raise
            log.warning("postgres not ready (attempt %d/%d): %s", attempt, attempts, exc)
            await asyncio.sleep(min(0.2 * attempt, 2.0))
