"""prometheus-client's multiprocess mode, for ``onsale serve --workers N``.

Each worker writes its metrics to memory-mapped files in one directory, and
the worker that answers a scrape sums them. The directory must be named by
``PROMETHEUS_MULTIPROC_DIR`` before a worker imports prometheus_client, so
:func:`prepare` runs in the parent before the workers start; it also empties
the directory, since files of an earlier run would be summed in.

Counters and histograms of every worker are summed; the websocket gauge is
"livesum" (only live processes count), so :func:`prune_dead` removes the gauge
files of workers that are gone.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from prometheus_client import values

ENV = "PROMETHEUS_MULTIPROC_DIR"
# Gauges of a worker that died are dropped (only "live*" modes have such files).
_LIVE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


def prepare(data_dir: Path, *, workers: int) -> Path | None:
    """Create and empty the metrics directory (``$PROMETHEUS_MULTIPROC_DIR`` if
    set, else ``data_dir/metrics``) and name it in the environment, which the
    worker processes inherit. With one worker nothing is needed: None."""
    given = os.environ.get(ENV)
    if workers <= 1 and not given:
        return None
    path = Path(given) if given else data_dir / "metrics"
    path.mkdir(parents=True, exist_ok=True)
    own = f"_{os.getpid()}.db"  # this process may be the one that serves (one worker)
    for stale in path.glob("*.db"):
        if not stale.name.endswith(own):
            stale.unlink(missing_ok=True)
    os.environ[ENV] = str(path.resolve())
    return path


def active() -> bool:
    """True when this process keeps its metrics in the shared files (the
    variable was set before prometheus_client was imported)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def directory() -> str | None:
    return os.environ.get(ENV) if active() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune_dead(path: str) -> list[int]:
    """Drop the live-gauge files of processes that are gone (a worker killed
    and restarted); their counters and histograms stay, as counts should.
    Returns the pids pruned."""
    pruned: list[int] = []
    for name in os.listdir(path):
        match = _LIVE_FILE.match(name)
        if match and not _alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(path, name))
            pruned.append(int(match.group(1)))
    return pruned
