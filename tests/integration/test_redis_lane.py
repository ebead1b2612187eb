"""The script lane of onsale.redis on a real Redis: what redis-py's call path
did for a script call (reload on NOSCRIPT, a new connection after the server
closed one, a deadline, back-pressure) it still does, and a connection is
never handed on with a reply still to read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from onsale import redis as redis_conn
from onsale.settings import Settings

LIST = "onsaletest:lane:list"


@pytest_asyncio.fixture(loop_scope="session")
async def client(settings: Settings, redis_client: aredis.Redis) -> AsyncIterator[aredis.Redis]:
    assert settings.redis_url
    made = await redis_conn.connect(settings.redis_url)
    assert isinstance(made, aredis.Redis)
    yield made
    await made.aclose()


def _lane(client: aredis.Redis) -> redis_conn.Lane:
    pool = client.connection_pool
    assert isinstance(pool, redis_conn.GatedPool)
    return pool.lane


def _scripts(client: aredis.Redis) -> redis_conn.Scripts:
    return redis_conn.Scripts(client, "onsale.inventory.lua", ["reclaim"], prelude="_lib")


async def test_script_calls_take_the_lane_on_a_single_redis(client: aredis.Redis) -> None:
    scripts = _scripts(client)
    assert scripts._lane is _lane(client)
    keys = [f"onsaletest:{{lane}}:k{i}" for i in range(11)]
    assert await scripts.call("reclaim", keys, []) == ["ok", 0]


async def test_a_script_redis_does_not_know_is_loaded_again(client: aredis.Redis) -> None:
    """As after a Redis restart or SCRIPT FLUSH (which this test may not run on
    a shared server): the lane's EVALSHA gets NOSCRIPT, loads, and calls again."""
    scripts = _scripts(client)
    script = scripts._scripts["reclaim"]
    right = script.sha
    script.sha = "0" * 40  # a script no Redis has
    keys = [f"onsaletest:{{lane}}:k{i}" for i in range(11)]
    assert await scripts.call("reclaim", keys, []) == ["ok", 0]
    assert script.sha == right


async def test_a_connection_the_server_closed_is_replaced(
    client: aredis.Redis, redis_client: aredis.Redis
) -> None:
    lane = _lane(client)
    first = await lane.execute("CLIENT", "ID")
    await redis_client.execute_command("CLIENT", "KILL", "ID", first)
    # the idle connection is dead; the call goes through on a new one
    second = await lane.execute("CLIENT", "ID")
    assert second != first
    assert await lane.execute("PING") in ("PONG", True)


async def test_a_call_past_its_deadline_leaves_no_reply_for_the_next(
    client: aredis.Redis, redis_client: aredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    lane = _lane(client)
    await redis_client.delete(LIST)
    monkeypatch.setattr(lane, "_timeout", 0.2)
    with pytest.raises(RedisTimeoutError):
        await lane.execute("BLPOP", LIST, 2)
    # Redis now answers the BLPOP above on its connection: were that
    # connection reused, the next call would read this list's item.
    await redis_client.rpush(LIST, "late")
    await asyncio.sleep(0.1)
    for _ in range(3):
        assert await lane.execute("ECHO", "mine") == "mine"
    await redis_client.delete(LIST)


async def test_past_the_limit_callers_wait_then_get_unavailable(
    client: aredis.Redis, redis_client: aredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    lane = _lane(client)
    await redis_client.delete(LIST)
    monkeypatch.setattr(lane, "_gate", asyncio.Semaphore(1))
    monkeypatch.setattr(lane, "_wait", 0.2)
    busy = asyncio.ensure_future(lane.execute("BLPOP", LIST, 1))
    await asyncio.sleep(0.05)
    with pytest.raises(RedisConnectionError, match="No connection available"):
        await lane.execute("PING")
    assert await busy is None  # BLPOP timed out empty, within the deadline
    assert await lane.execute("ECHO", "free again") == "free again"


async def test_the_pool_gates_other_commands_the_same_way(
    client: aredis.Redis, redis_client: aredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = client.connection_pool
    assert isinstance(pool, redis_conn.GatedPool)
    await redis_client.delete(LIST)
    monkeypatch.setattr(pool, "_gate", asyncio.Semaphore(1))
    monkeypatch.setattr(pool, "_wait", 0.2)
    busy = asyncio.ensure_future(client.blpop([LIST], 1))
    await asyncio.sleep(0.05)
    with pytest.raises(RedisConnectionError, match="No connection available"):
        await client.ping()
    assert await busy is None
    assert await client.ping()


async def test_closing_the_client_closes_the_lane(settings: Settings) -> None:
    assert settings.redis_url
    made = await redis_conn.connect(settings.redis_url)
    assert isinstance(made, aredis.Redis)
    lane = _lane(made)
    await lane.execute("PING")
    assert lane._idle
    await made.aclose()
    assert lane._idle == []
