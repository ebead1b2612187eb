"""One way to start ``onsale serve`` (or any HTTP server) for a bench or a run:
its environment, a free loopback port, the wait until it answers, the stop.

    env = onsale_env(admin_token)                 # + ONSALE_REDIS_URL=... if wanted
    with onsale_server(env, workers=2) as server:  # started, /readyz answered 200
        ...server.url, server.pid...
    # stopped: SIGTERM to its process group, SIGKILL after the grace period

Every server runs in its own session (process group), so that stopping or
killing it reaches its workers too, and a Ctrl-C in the terminal reaches the
script (which stops the server on its way out), not the server directly.
Its output goes to ``log`` (a file, appended) or else to this process'
stderr, so that a bench's JSON report on stdout stays clean.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

import procstat
from scenario import free_port, serve_command

# Every fan of a load run comes from 127.0.0.1: the per-address join limit
# would refuse all but the first few (bench_core.py failed on its own joins).
LOAD_ENV = {"ONSALE_JOIN_RATE_PER_MINUTE": "0", "ONSALE_LOG_LEVEL": "WARNING"}


def onsale_env(
    admin_token: str, base: Mapping[str, str] | None = None, **extra: str
) -> dict[str, str]:
    """The environment of an ``onsale serve`` under load: ``base`` (default:
    this process' environment), the admin token, no per-address join limit,
    warnings only, one secret key (kept if ``base`` has one: every process of
    a run must share it), then ``extra`` (ONSALE_REDIS_URL=...)."""
    env = dict(os.environ if base is None else base)
    env.update(LOAD_ENV)
    env["ONSALE_ADMIN_TOKEN"] = admin_token
    env.setdefault("ONSALE_SECRET_KEY", secrets.token_urlsafe(32))
    env.update(extra)
    return env


def readyz(client: httpx.Client) -> bool:
    """onsale's readiness: Redis and Postgres answer, migrations ran."""
    return client.get("/readyz").status_code == 200


@dataclass
class Server:
    """A server process on a loopback port. ``start`` waits until ``ready``
    says yes; ``stop`` and ``kill`` reach its whole process group."""

    argv: list[str]
    env: dict[str, str]
    port: int
    log: Path | None = None
    ready: Callable[[httpx.Client], bool] = readyz
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the server was not started"
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60.0) -> Server:
        """Start it and wait (at most ``timeout`` s) until it is ready.

        Raises:
            RuntimeError: it exited, or was not ready in time (then stopped).
        """
        out = self.log.open("ab") if self.log else None
        try:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out or sys.stderr,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if out:
                out.close()
        problem = self._wait_ready(timeout)
        if problem:
            self.stop()
            raise RuntimeError(problem)
        return self

    def _wait_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=2, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    code = None if self.proc is None else self.proc.returncode
                    return f"the server on :{self.port} exited with {code}{self.log_tail()}"
                with contextlib.suppress(httpx.HTTPError):
                    if self.ready(client):
                        return ""
                time.sleep(0.25)
        return f"the server on :{self.port} was not ready within {timeout:.0f} s{self.log_tail()}"

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to the process group (uvicorn stops its workers; a worker
        whose leader already died gets it too), SIGKILL after ``grace`` s."""
        if self.proc is None:
            return
        _signal_group(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        _reap_group(self.proc.pid, grace)

    def kill(self) -> int:
        """SIGKILL to the process group: no shutdown, no goodbye to its
        websockets. Returns the dead leader's pid."""
        assert self.proc is not None, "the server was not started"
        _signal_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        return self.proc.pid

    def log_tail(self, chars: int = 2000) -> str:
        if self.log is None:
            return ""
        try:
            return "\n" + self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def __enter__(self) -> Server:
        return self if self.running() else self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def onsale(
    env: dict[str, str], *, workers: int = 1, port: int = 0, log: Path | None = None
) -> Server:
    """``onsale serve --workers N`` on ``port`` (0: a free one), not started."""
    port = port or free_port()
    return Server(serve_command(port, workers), env, port, log)


@contextlib.contextmanager
def onsale_server(
    env: dict[str, str],
    *,
    workers: int = 1,
    log: Path | None = None,
    timeout: float = 60.0,
) -> Iterator[Server]:
    """A started ``onsale serve``, stopped on the way out whatever happens."""
    server = onsale(env, workers=workers, log=log)
    server.start(timeout)
    try:
        yield server
    finally:
        server.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _reap_group(pgid: int, wait: float) -> None:
    """Workers left in the group after its leader exited (they had SIGTERM):
    wait for them, then kill them."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not procstat.group_alive(pgid):
            return
        time.sleep(0.1)
    _signal_group(pgid, signal.SIGKILL)
