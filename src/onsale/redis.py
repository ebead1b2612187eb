"""The Redis connection of a process and the Lua scripts it calls.

Scripts are ``.lua`` files shipped inside the package, loaded with
``importlib.resources``, registered once and called by SHA (reloaded on
NOSCRIPT, e.g. after a Redis restart).

Every script call is on the hot path of a sale (a hold, an admission), so on a
single Redis it goes through a :class:`Lane`: connections of its own, one
EVALSHA written and its reply read, and nothing else. redis-py's general call
path (retry wrapper, observability hooks, a socket timeout that costs a task
per write, the pool's checks) took a third of a hold's CPU. Other commands go
through redis-py's client and a :class:`GatedPool`. On a Redis Cluster, redis-py
routes every call itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from importlib import resources
from typing import Any, Protocol

import hiredis
from prometheus_client import Histogram
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

AnyRedis = Redis | RedisCluster

# Connections per process (and as many again for the script lane). Past it,
# callers wait up to POOL_TIMEOUT seconds for a free one (back-pressure)
# instead of failing at once.
MAX_CONNECTIONS = 64
POOL_TIMEOUT = 5.0
# Longest wait for a reply: past it the call fails as unavailable (503).
SOCKET_TIMEOUT = 5.0

# Errors that mean "Redis is not there right now": answered with 503.
# Errors that can only come from Redis, and those that mean "Redis is not
# there right now" (a bare OSError may also be Postgres' connect failing).
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (*REDIS_ERRORS, ConnectionError, OSError)


async def _acquire(gate: asyncio.Semaphore, wait: float) -> None:
    """Take a place at ``gate``, waiting at most ``wait`` s. Raises
    RedisConnectionError as redis-py's BlockingConnectionPool does."""
    if not gate.locked():
        await gate.acquire()  # a free place: returns without suspending
        return
    try:
        async with asyncio.timeout(wait):
            await gate.acquire()
    except TimeoutError as exc:
        raise RedisConnectionError("No connection available.") from exc


def _pack(args: tuple[Any, ...]) -> bytes:
    """A command in Redis' protocol, packed by hiredis (a dependency: the
    "hiredis" extra of redis), in C: redis-py's asyncio connections pack in
    Python, which took a tenth of a hold's CPU."""
    packed: bytes = hiredis.pack_command(args)
    return packed


class Lane:
    """Connections for script calls only, without redis-py's general call path.

    A connection goes back to the idle list only after a whole reply was read
    (an error reply is a whole reply); after anything else it is closed, so
    that no later call reads an earlier call's answer. The connections have no
    socket timeout of their own: a call has one deadline, ``timeout``.
    """

    def __init__(self, pool: ConnectionPool, limit: int, wait: float, timeout: float) -> None:
        self._class: Callable[..., AbstractConnection] = pool.connection_class
        # No health-check PING before a call that follows 30 s of quiet (a
        # check of the clock on every call): a connection the server closed
        # meanwhile fails the call, which is sent again on a new one.
        self._kwargs = {
            **pool.connection_kwargs,
            "socket_timeout": None,
            "health_check_interval": 0,
        }
        self._idle: list[AbstractConnection] = []
        self._gate = asyncio.Semaphore(limit)
        self._wait = wait
        self._timeout = timeout

    async def execute(self, *args: Any) -> Any:
        """Send one command and return its reply (a ResponseError raised).

        A connection the server closed (a Redis restart) is replaced and the
        command sent once more: it never ran, or ran whole (scripts are atomic).
        A timeout is not retried: the command may still run.
        """
        await _acquire(self._gate, self._wait)
        try:
            try:
                return await self._once(args)
            except RedisConnectionError:
                await self.close()  # the other idle ones went with the server
                return await self._once(args)
        finally:
            self._gate.release()

    async def _once(self, args: tuple[Any, ...]) -> Any:
        conn = self._idle.pop() if self._idle else self._class(**self._kwargs)
        try:
            async with asyncio.timeout(self._timeout):
                await conn.send_packed_command(_pack(args))
                reply = await conn.read_response()
        except ResponseError:
            self._idle.append(conn)
            raise
        except TimeoutError as exc:
            await conn.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout reading from Redis") from exc
        except BaseException:
            await conn.disconnect(nowait=True)
            raise
        self._idle.append(conn)
        return reply

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        await asyncio.gather(*(c.disconnect() for c in idle), return_exceptions=True)


class GatedPool(ConnectionPool):
    """redis-py's connection pool with back-pressure from a semaphore: past
    ``max_connections`` in use, callers wait up to ``timeout`` s, then get
    RedisConnectionError. redis-py's BlockingConnectionPool does the same with
    a condition and a timeout context on every checkout (measured: 9 µs more
    per command). It also owns the :class:`Lane` of the client's scripts, so
    that closing the client closes it.
    """

    def __init__(self, *, timeout: float = POOL_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gate = asyncio.Semaphore(self.max_connections)
        self._wait = timeout
        self.lane = Lane(self, self.max_connections, timeout, SOCKET_TIMEOUT)

    async def get_connection(self, command_name: Any = None, *keys: Any, **options: Any) -> Any:
        await _acquire(self._gate, self._wait)
        try:
            connection = self.get_available_connection()  # type: ignore[no-untyped-call]
        except BaseException:
            self._gate.release()
            raise
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        try:
            await super().release(connection)
        finally:
            self._gate.release()

    async def disconnect(self, inuse_connections: bool = True) -> None:
        try:
            await super().disconnect(inuse_connections)
        finally:
            await self.lane.close()


class ScriptCall(Protocol):
    async def __call__(self, keys: list[str], args: list[Any]) -> Any: ...


class Scripts:
    """The Lua scripts of one package folder, registered on one client.

    ``prelude`` names a file of shared local functions put before each script
    (Redis scripts cannot call each other).
    """

    def __init__(
        self,
        client: AnyRedis,
        package: str,
        names: list[str],
        *,
        prelude: str | None = None,
        seconds: Histogram | None = None,
    ) -> None:
        self._scripts: dict[str, Any] = {}
        # The histogram is given by the store (monitoring.metrics'
        # REDIS_SCRIPT_SECONDS): this module sits below monitoring.
        self._timers = {name: seconds.labels(name) for name in names} if seconds else {}
        folder = resources.files(package)
        shared = (folder / f"{prelude}.lua").read_text(encoding="utf-8") if prelude else ""
        for name in names:
            source = (folder / f"{name}.lua").read_text(encoding="utf-8")
            self._scripts[name] = client.register_script(shared + "\n" + source)
        pool = getattr(client, "connection_pool", None)
        self._lane: Lane | None = (
            pool.lane if isinstance(client, Redis) and isinstance(pool, GatedPool) else None
        )

    async def call(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run script ``name``, timed in onsale_redis_script_duration_seconds."""
        started = time.perf_counter()
        try:
            if self._lane is None:
                return await self._scripts[name](keys=keys, args=args)
            return await self._evalsha(self._lane, self._scripts[name], keys, args)
        finally:
            if name in self._timers:
                self._timers[name].observe(time.perf_counter() - started)

    @staticmethod
    async def _evalsha(lane: Lane, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await lane.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            # Redis restarted (or SCRIPT FLUSH): load it again, once.
            script.sha = await lane.execute("SCRIPT", "LOAD", script.script)
            return await lane.execute("EVALSHA", script.sha, len(keys), *keys, *args)


def _client_options() -> dict[str, Any]:
    return {
        "decode_responses": True,
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": 2.0,
        "health_check_interval": 30,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
    }


async def connect(url: str, *, attempts: int = 10) -> AnyRedis:
    """Connect to the Redis named by ``url``; use a cluster client if it is one.

    Retries with a log line per attempt, then raises the last connection error.
    """
    for attempt in range(1, attempts + 1):
        pool = GatedPool.from_url(
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
