"""Process helpers shared by the embedded servers: ports, pidfiles, logs,
the data directory's lock."""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import IO, TypeVar

log = logging.getLogger("onsale.embedded")  # one logger for the servers
T = TypeVar("T")

READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 3


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
