"""Real local Redis and PostgreSQL servers for a zero-configuration on-sale.

When no ``ONSALE_REDIS_URL`` / ``ONSALE_DATABASE_URL`` is configured, onsale
starts its own servers under a data directory::

    with start_embedded(Path("./onsale-data")) as servers:
        run_app(servers.redis_url, servers.database_url)

Layout under ``data_dir``:

* ``embedded.lock`` -- ``flock`` held while the servers run, so two processes
  never share one data directory (the kernel drops it if we crash).
* ``redis/`` -- Redis working dir, log and pidfile (no persistence).
* ``pg/`` -- the PostgreSQL cluster (kept across restarts, ``fsync`` on).
* ``pg-run/`` -- PostgreSQL log and unix socket.

The servers are in ``redis.py`` and ``postgres.py``, what they share
(ports, pidfiles, logs, the lock) in ``process.py``.

PostgreSQL refuses to run as root, so when ``os.geteuid() == 0`` the cluster
is owned and run by the ``postgres`` system user (``nobody`` if it does not
exist). Servers are started in their own session, so a Ctrl-C aimed at the
application does not kill them before the application has shut down.
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from onsale.embedded.postgres import _PostgresProcess
from onsale.embedded.process import _lock_data_dir, _quietly, _start_with_free_port
from onsale.embedded.redis import _RedisProcess

__all__ = ["EmbeddedServers", "start_embedded"]


# --------------------------------------------------------------------------- #
# Public API
# --------------------------------------------------------------------------- #


@dataclass
class EmbeddedServers:
    """Handles of the servers started by :func:`start_embedded`.

    ``redis_url`` / ``database_url`` are ``None`` for a server not started.
    """

    redis_url: str | None = None
    database_url: str | None = None
    _redis: _RedisProcess | None = field(default=None, repr=False)
    _postgres: _PostgresProcess | None = field(default=None, repr=False)
    _lock: IO[bytes] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop what was started; idempotent and never raises."""
        postgres, self._postgres = self._postgres, None
        redis, self._redis = self._redis, None
        lock, self._lock = self._lock, None
        _quietly(postgres.stop if postgres else None)
        _quietly(redis.stop if redis else None)
        _quietly(lock.close if lock else None)
        atexit.unregister(self.stop)

    def __enter__(self) -> EmbeddedServers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_embedded(
    data_dir: Path,
    *,
    redis: bool = True,
    postgres: bool = True,
    database: str = "onsale",
) -> EmbeddedServers:
    """Start local Redis and/or PostgreSQL servers under ``data_dir``.

    ``data_dir`` is created if missing; the PostgreSQL cluster in it is
    initialised once and reused by later starts. Leftover servers of a crashed
    run on the same ``data_dir`` are stopped first. A :mod:`atexit` hook stops
    the servers if :meth:`EmbeddedServers.stop` is never called.

    Raises:
        RuntimeError: ``data_dir`` is in use by another live process, a server
            binary cannot be found, or a server fails to start / become ready
            (the message includes the tail of the server log).
        OSError: ``data_dir`` cannot be created or written.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    servers = EmbeddedServers(_lock=_lock_data_dir(data_dir))
    atexit.register(servers.stop)
    try:
        if redis:
            servers._redis = _start_with_free_port(lambda port: _RedisProcess.start(data_dir, port))
            servers.redis_url = servers._redis.url
        if postgres:
            servers._postgres = _start_with_free_port(
                lambda port: _PostgresProcess.start(data_dir, port, database)
            )
            servers.database_url = servers._postgres.url
    except BaseException:
        servers.stop()
        raise
    return servers
