"""The Redis connection of a process and the Lua scripts it calls.

Scripts are ``.lua`` files shipped inside the package, loaded with
``importlib.resources``, registered once and called by SHA (redis-py reloads a
script on NOSCRIPT, e.g. after a Redis restart).
"""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import resources
from typing import Any, Protocol

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from onsale.monitoring import metrics

log = logging.getLogger(__name__)

AnyRedis = Redis | RedisCluster

# Connections per process. Past it, callers wait up to POOL_TIMEOUT seconds for
# a free one (back-pressure) instead of failing at once.
MAX_CONNECTIONS = 64
POOL_TIMEOUT = 5.0

# Errors that mean "Redis is not there right now": answered with 503.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    OSError,
)


class ScriptCall(Protocol):
    async def __call__(self, keys: list[str], args: list[Any]) -> Any: ...


class Scripts:
    """The Lua scripts of one package folder, registered on one client.

    ``prelude`` names a file of shared local functions put before each script
    (Redis scripts cannot call each other).
    """

    def __init__(
        self, client: AnyRedis, package: str, names: list[str], *, prelude: str | None = None
    ) -> None:
        self._scripts: dict[str, Any] = {}
        self._timers = {name: metrics.REDIS_SCRIPT_SECONDS.labels(name) for name in names}
        folder = resources.files(package)
        shared = (folder / f"{prelude}.lua").read_text(encoding="utf-8") if prelude else ""
        for name in names:
            source = (folder / f"{name}.lua").read_text(encoding="utf-8")
            self._scripts[name] = client.register_script(shared + "\n" + source)

    async def call(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run script ``name``, timed in onsale_redis_script_duration_seconds."""
        started = time.perf_counter()
        try:
            return await self._scripts[name](keys=keys, args=args)
        finally:
            self._timers[name].observe(time.perf_counter() - started)


def _client_options() -> dict[str, Any]:
    return {
        "decode_responses": True,
        "socket_timeout": 5.0,
        "socket_connect_timeout": 2.0,
        "health_check_interval": 30,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
    }


async def connect(url: str, *, attempts: int = 10) -> AnyRedis:
    """Connect to the Redis named by ``url``; use a cluster client if it is one.

    Retries with a log line per attempt, then raises the last connection error.
    """
    for attempt in range(1, attempts + 1):
        pool = BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT, **_client_options()
        )
        client: AnyRedis = Redis.from_pool(pool)
        try:
            info = await client.info("cluster")
            if info.get("cluster_enabled") in (1, "1"):
                await client.aclose()
                cluster = RedisCluster.from_url(
                    url, max_connections=MAX_CONNECTIONS, **_client_options()
                )
                await cluster.initialize()
                return cluster
            return client
        except (RedisError, OSError) as exc:
            await client.aclose()
            if attempt == attempts:
                raise
            log.warning("redis not ready (attempt %d/%d): %s", attempt, attempts, exc)
            await asyncio.sleep(min(0.2 * attempt, 2.0))
    raise AssertionError("unreachable")
