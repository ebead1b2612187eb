"""The Postgres engine of a process and the schema migrations."""

from __future__ import annotations

import asyncio
import logging
from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
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


def create_engine(url: str, *, pool_size: int = 15, hide_parameters: bool = True) -> AsyncEngine:
    """The process' engine. ``hide_parameters`` keeps the bound values of a
    statement (a buyer's e-mail and name, a queue entry) out of the text of
    its errors, which are logged; False only to show, in a test, what leaks
    without it."""
    # 30 connections a process at most (two workers stay under Postgres'
    # default 100); past that a request waits up to 10 s for one, then 503.
    return create_async_engine(
        async_url(url),
        hide_parameters=hide_parameters,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        pool_pre_ping=True,
        connect_args={
            "timeout": 5,
            "command_timeout": 10,
            "server_settings": {"lock_timeout": "3000", "application_name": "onsale"},
        },
    )


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


async def wait_ready(engine: AsyncEngine, *, attempts: int = 20) -> None:
    """Wait for Postgres to answer, with a log line per failed attempt."""
    for attempt in range(1, attempts + 1):
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return
        except UNAVAILABLE_ERRORS as exc:
            if attempt == attempts:
                raise
            log.warning("postgres not ready (attempt %d/%d): %s", attempt, attempts, exc)
            await asyncio.sleep(min(0.2 * attempt, 2.0))
