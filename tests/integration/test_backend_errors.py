"""Which Postgres failures answer 503 (unavailable, retry) and which are bugs
(500): a server that cuts the connection is the first kind, whatever wrapper
SQLAlchemy puts around asyncpg's error."""

from __future__ import annotations

import asyncpg
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from onsale import db
from onsale.errors import Unavailable
from onsale.http import classify
from onsale.runtime import Runtime


async def _error_of(runtime: Runtime, sql: str, *, cut_first: bool = False) -> BaseException:
    assert runtime.settings.database_url
    async with runtime.engine.connect() as conn:
        if cut_first:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            admin = await asyncpg.connect(runtime.settings.database_url)
            try:
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await admin.close()
        with pytest.raises(Exception) as info:
            await conn.execute(text(sql))
        return info.value


async def test_a_connection_the_server_cut_is_unavailable(runtime: Runtime) -> None:
    exc = await _error_of(runtime, "SELECT 1", cut_first=True)
    assert db.unavailable(exc)
    assert isinstance(classify(exc), Unavailable)


async def test_a_wrong_query_is_a_bug_not_unavailable(runtime: Runtime) -> None:
    exc = await _error_of(runtime, "SELECT * FROM no_such_table")
    assert not db.unavailable(exc)
    assert classify(exc) is None


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.ConnectionFailureError("connection failure"),
    ],
)
def test_a_server_shutting_down_or_starting_is_unavailable(error: Exception) -> None:
    # What connecting during a restart raises: a bare DBAPIError (not an
    # OperationalError) around asyncpg's error, told apart by its SQLSTATE.
    exc = sa_exc.DBAPIError("SELECT 1", None, error)
    assert not isinstance(exc, db.UNAVAILABLE_ERRORS)
    assert isinstance(classify(exc), Unavailable)


def test_other_server_errors_are_bugs() -> None:
    exc = sa_exc.DBAPIError("SELECT 1", None, asyncpg.exceptions.UniqueViolationError("dup"))
    assert classify(exc) is None


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (RedisConnectionError("refused"), "Redis is unavailable, retry shortly"),
        (RedisTimeoutError("slow"), "Redis is unavailable, retry shortly"),
        (
            sa_exc.DBAPIError("SELECT 1", None, asyncpg.exceptions.CannotConnectNowError("x")),
            "The database is unavailable, retry shortly",
        ),
        # What asyncpg's connect raises, as redis-py's could: no backend named.
        (ConnectionRefusedError(111, "refused"), "A backend is unavailable, retry shortly"),
        (TimeoutError(), "A backend is unavailable, retry shortly"),
    ],
)
def test_the_503_names_the_backend_only_when_it_is_certain(error: Exception, message: str) -> None:
    answer = classify(error)
    assert isinstance(answer, Unavailable) and answer.message == message
