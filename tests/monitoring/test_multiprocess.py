"""Multiprocess mode: worker processes' metrics are summed at scrape time,
the websocket gauge counts only live workers, and start-up clears old files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from onsale.monitoring import multiprocess

WORKER = """
import sys
from onsale.monitoring import metrics, multiprocess
assert multiprocess.active()
metrics.HTTP_REQUESTS.labels("/healthz", "GET", "200").inc(int(sys.argv[1]))
metrics.WS_CONNECTIONS.set(int(sys.argv[2]))
print("ready", flush=True)
sys.stdin.readline()
"""
SCRAPE = """
import asyncio
from onsale.monitoring import exposition
print(asyncio.run(exposition.render(None)).decode())
"""


def _env(path: Path) -> dict[str, str]:
    return {**os.environ, multiprocess.ENV: str(path)}


def _worker(path: Path, requests: int, connections: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(requests), str(connections)],
        env=_env(path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.communicate("\n", timeout=10)  # closes the pipes too


def test_workers_are_summed_and_dead_workers_leave_the_gauge(tmp_path: Path) -> None:
    gone = _worker(tmp_path, requests=3, connections=5)
    _stop(gone)
    alive = _worker(tmp_path, requests=4, connections=7)
    try:
        scraped = subprocess.run(
            [sys.executable, "-c", SCRAPE],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    finally:
        _stop(alive)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped)
        for s in family.samples
    }
    healthz = (("method", "GET"), ("route", "/healthz"), ("status", "200"))
    assert samples[("onsale_http_requests_total", healthz)] == 7
    assert samples[("onsale_ws_connections", ())] == 7
    assert not list(tmp_path.glob(f"gauge_live*_{gone.pid}.db"))
    assert list(tmp_path.glob(f"counter_{gone.pid}.db"))  # its counts stay


def test_prepare_names_and_empties_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(multiprocess.ENV, "x")
    monkeypatch.delenv(multiprocess.ENV)  # restored (unset) after the test
    assert multiprocess.prepare(tmp_path, workers=1) is None
    assert multiprocess.ENV not in os.environ
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"old run")
    (folder / "notes.txt").write_text("kept")
    assert multiprocess.prepare(tmp_path, workers=2) == folder
    assert os.environ[multiprocess.ENV] == str(folder.resolve())
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_this_process_is_not_in_multiprocess_mode() -> None:
    assert not multiprocess.active() and multiprocess.directory() is None
