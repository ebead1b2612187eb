"""A pooled Postgres connection whose backend was terminated (a restart, a
failover, an admin's pg_terminate_backend) does not fail the next checkout.

The engine has no pre-ping any more (it cost a BEGIN, a query and a ROLLBACK
each time a connection left the pool); instead the pool's checkout hook looks
at whether asyncpg saw the connection close, and the pool replaces it. With
that look off (``check_alive=False``, the old pre-ping gone and nothing in its
place) the same checkout fails with 503: the negative control.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale import db
from onsale.runtime import Runtime
from tests.conftest import Admit, MakeEvent, auth
from tests.integration.api_helpers import hold

CARD = {"provider": "test", "card_number": "4242424242424242"}


@pytest_asyncio.fixture(loop_scope="session", params=[True, False], ids=["check", "no-check"])
async def one_connection(
    request: pytest.FixtureRequest, runtime: Runtime
) -> AsyncIterator[tuple[AsyncEngine, bool]]:
    """The checkout service on an engine of one pooled connection, with the
    liveness check on or off."""
    check = bool(request.param)
    assert runtime.settings.database_url
    engine = db.create_engine(runtime.settings.database_url, pool_size=1, check_alive=check)
    old = runtime.checkout.engine
    runtime.checkout.engine = engine
    try:
        yield engine, check
    finally:
        runtime.checkout.engine = old
        await engine.dispose()


async def _terminate_pooled(engine: AsyncEngine, dsn: str) -> None:
    """Kill the backend of the engine's one pooled connection, and give the
    event loop a moment to read Postgres' goodbye (as it would between two
    requests)."""
    async with engine.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    admin = await asyncpg.connect(dsn)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)


async def test_a_checkout_after_the_backend_was_killed(
    client: httpx.AsyncClient,
    runtime: Runtime,
    make_event: MakeEvent,
    admitted: Admit,
    one_connection: tuple[AsyncEngine, bool],
) -> None:
    engine, check = one_connection
    assert runtime.settings.database_url
    event_id = (await make_event())["id"]
    access = await admitted(event_id)
    h = await hold(client, event_id, access, {"section": "FLOOR", "quantity": 1})
    await _terminate_pooled(engine, runtime.settings.database_url)
    r = await client.post(
        f"/api/holds/{h['hold_id']}/checkout",
        json={"buyer": {"email": "fan@example.org", "name": "Fan"}, "payment": CARD},
        headers={**auth(access), "Idempotency-Key": "k-dead-conn"},
    )
    if check:
        assert r.status_code == 201, r.text
    else:
        # the old engine without its pre-ping: the dead connection is used
        assert r.status_code == 503, r.text


async def test_warm_up_opens_that_many_connections_and_the_pool_keeps_them(
    runtime: Runtime,
) -> None:
    """No overflow to close: what was opened stays (the churn was 30-67 new
    sessions per 600 checkouts with 15 + 15 overflow)."""
    assert runtime.settings.database_url
    engine = db.create_engine(runtime.settings.database_url, pool_size=4)
    try:
        await db.wait_ready(engine, warm_up=3)
        pool = engine.sync_engine.pool
        assert pool.checkedin() == 3  # type: ignore[attr-defined]
        async with engine.connect(), engine.connect(), engine.connect(), engine.connect():
            pass
        assert pool.checkedin() == 4  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
