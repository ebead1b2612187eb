"""What the chaos run breaks: its own Redis and Postgres (started with onsale's
embedded launcher, from the machine's binaries, under a temporary folder and on
free loopback ports), two `onsale serve` processes, and a round-robin loopback
proxy in front of them, as a load balancer would be.

Nothing here touches the machine's shared Redis or Postgres: every fault is
aimed at a process this module started, by its own PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import redis

import launch
from onsale.embedded import EmbeddedServers, start_embedded
from scenario import free_port


class Backends:
    """A Redis without persistence (a restart loses everything) and a Postgres
    cluster, both owned by this run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.servers: EmbeddedServers = start_embedded(folder, database="onsale")
        assert self.servers._redis and self.servers._postgres
        self.redis_port = self.servers._redis.port
        self.redis_url = str(self.servers.redis_url)
        self.database_url = str(self.servers.database_url)

    # Redis ---------------------------------------------------------------

    def redis_pid(self) -> int:
        assert self.servers._redis
        return self.servers._redis.proc.pid

    def redis_run_id(self) -> str | None:
        """Redis' run_id (new at every start), None if it does not answer."""
        client = redis.Redis(port=self.redis_port, socket_timeout=2, decode_responses=True)
        try:
            return str(client.info("server")["run_id"])
        except redis.RedisError:
            return None
        finally:
            client.close()

    def restart_redis_empty(self) -> None:
        """SIGKILL Redis (no persistence: its data is gone) and start a new one
        on the same port, so the apps reconnect to it."""
        from onsale.embedded.redis import _RedisProcess

        old = self.servers._redis
        assert old
        old.proc.kill()
        old.proc.wait()
        self.servers._redis = _RedisProcess.start(self.folder, self.redis_port)

    def pause_redis(self) -> None:
        os.kill(self.redis_pid(), signal.SIGSTOP)

    def resume_redis(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.redis_pid(), signal.SIGCONT)

    # Postgres ------------------------------------------------------------

    def postgres_pid(self) -> int | None:
        try:
            return int((self.folder / "pg" / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop_postgres(self) -> None:
        """``pg_ctl stop -m fast``: connections are cut, the postmaster exits."""
        assert self.servers._postgres
        self.servers._postgres.stop_server()

    def start_postgres(self) -> None:
        assert self.servers._postgres
        self.servers._postgres.launch(self.folder / "pg-run" / "postgres.log")

    def stop(self) -> None:
        """Never leaves a stopped Redis or a running server behind."""
        self.resume_redis()
        self.servers.stop()


@dataclass
class App:
    """One `onsale serve` process on its own port, log and metrics folder,
    started (and started again after a kill) by loadtests/launch.py."""

    port: int
    folder: Path
    env: dict[str, str]
    server: launch.Server | None = None
    pids: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.server.proc if self.server else None

    def start(self, timeout: float = 60) -> None:
        """Start and wait for /readyz.

        Raises:
            RuntimeError: it exited or did not become ready in time.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        env = {**self.env, "ONSALE_DATA_DIR": str(self.folder)}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.server = launch.onsale(env, port=self.port, log=self.folder / "app.log")
        try:
            self.server.start(timeout)
        finally:
            if self.server.proc:
                self.pids.append(self.server.proc.pid)

    def kill(self) -> int:
        """SIGKILL: no shutdown, no goodbye to its websockets. The dead PID."""
        assert self.server
        return self.server.kill()

    def stop(self) -> None:
        if self.server:
            self.server.stop(grace=15)

    def log(self, tail: int = 4000) -> str:
        try:
            return (self.folder / "app.log").read_text(errors="replace")[-tail:]
        except OSError:
            return ""


class Proxy:
    """Round-robin TCP proxy on a loopback port: each client connection goes to
    the next app that accepts it (a refused connect tries the next one, as a
    load balancer does), then bytes flow both ways until either side ends.
    Websockets pass through unchanged. Runs its own event loop in a thread."""

    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self.refused = 0  # connects an app refused (fans did not see them)
        self.unserved = 0  # clients no app accepted
        self.errors: Counter[str] = Counter()  # why a connect failed, by app port
        self._next = itertools.cycle(range(len(backends)))
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-proxy", daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port, backlog=1024)
        )
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in self.backends:
            port = self.backends[next(self._next)]
            try:
                return await asyncio.open_connection("127.0.0.1", port)
            except OSError as exc:
                self.refused += 1
                self.errors[f"{type(exc).__name__} :{port}"] += 1
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._upstream()
        if upstream is None:
            self.unserved += 1
            writer.close()
            return
        up_reader, up_writer = upstream
        pipes = [
            asyncio.ensure_future(_pipe(reader, up_writer)),
            asyncio.ensure_future(_pipe(up_reader, writer)),
        ]
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
