"""The embedded PostgreSQL server (a cluster kept across restarts)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg

from onsale.embedded.process import (
    READY_TIMEOUT,
    _live_owner,
    _log_tail,
    _package_file,
    log,
)

PG_SUPERUSER = "postgres"
# sun_path is 108 bytes on Linux, 104 on macOS; stay well below.
MAX_SOCKET_PATH = 100
TEMP_SOCKET_PREFIX = "onsale-pg-"


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
