"""`onsale serve` as a real process against the test backends, for tests that
need several processes, a crash, or a browser."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from onsale.settings import Settings
from tests.conftest import ADMIN_TOKEN


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    host: str  # "127.0.0.1:PORT"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.host} exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.host} did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(settings: Settings, **env: str) -> Server:
    """A server on a free port (not yet ready: call ``wait_ready``). ``env``
    adds or overrides ONSALE_* variables."""
    port = free_port()
    full_env = {
        **os.environ,
        "ONSALE_REDIS_URL": settings.redis_url or "",
        "ONSALE_DATABASE_URL": settings.database_url or "",
        "ONSALE_REDIS_PREFIX": settings.redis_prefix,
        "ONSALE_SECRET_KEY": settings.secret_key.reveal(),
        "ONSALE_ADMIN_TOKEN": ADMIN_TOKEN,
        "ONSALE_JOIN_RATE_PER_MINUTE": "0",
        "ONSALE_LOG_LEVEL": "WARNING",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "onsale.cli", "serve", "--port", str(port)], env=full_env
    )
    return Server(proc, f"127.0.0.1:{port}")


@contextmanager
def running(settings: Settings, count: int = 1, **env: str) -> Iterator[list[Server]]:
    """``count`` ready servers, stopped on the way out."""
    servers = [start(settings, **env) for _ in range(count)]
    try:
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()
