"""While Postgres is away, the sale goes on from Redis: the events already
read are served from the cache past its freshness, and admission keeps the
last list of live events. Without a previous read, the failure shows (503)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale import db
from onsale.runtime import Runtime
from tests.conftest import MakeEvent
from tests.live_server import free_port


@pytest_asyncio.fixture(loop_scope="session")
async def nowhere() -> AsyncIterator[AsyncEngine]:
    """An engine whose server does not answer (nothing listens on its port)."""
    engine = db.create_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/onsale")
    yield engine
    await engine.dispose()


async def test_events_already_read_are_served_while_postgres_is_away(
    runtime: Runtime, make_event: MakeEvent, nowhere: AsyncEngine
) -> None:
    events = runtime.events
    event_id = (await make_event())["id"]
    seen = await events.get(event_id)
    assert [e.id for e in await events.live_events()] == [event_id]
    events._cache[event_id] = (0.0, seen)  # past its freshness
    events.engine = nowhere
    assert (await events.get(event_id)).id == event_id
    assert [e.id for e in await events.live_events()] == [event_id]


async def test_without_a_previous_read_the_outage_shows(
    runtime: Runtime, make_event: MakeEvent, nowhere: AsyncEngine
) -> None:
    events = runtime.events
    event_id = (await make_event())["id"]
    events._cache.clear()
    events._live = None
    events.engine = nowhere
    with pytest.raises(Exception) as info:
        await events.get(event_id)
    assert db.unavailable(info.value)
    with pytest.raises(Exception) as info:
        await events.live_events()
    assert db.unavailable(info.value)
