"""The shared launcher, on a real (tiny) HTTP server that forks a worker, as
uvicorn --workers does: ready only once it answers, stopped with its whole
process group."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx
import pytest

import launch
import procstat
from scenario import free_port

# Answers 200 on /readyz once a file exists; forks a child that lives on (a
# worker) so that stopping the leader alone would leave it behind.
SERVER = """
import http.server, os, sys, time
flag, port = sys.argv[1], int(sys.argv[2])
if os.fork() == 0:
    time.sleep(300)
    os._exit(0)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if os.path.exists(flag) else 503)
        self.end_headers()
    def log_message(self, *a):
        pass
print("listening", flush=True)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def _server(tmp_path: Path) -> tuple[launch.Server, Path]:
    port = free_port()
    flag = tmp_path / "ready"
    argv = [sys.executable, "-c", SERVER, str(flag), str(port)]
    return launch.Server(argv, dict(os.environ), port, tmp_path / "server.log"), flag


def test_the_env_turns_off_the_join_limit_and_keeps_a_given_secret() -> None:
    env = launch.onsale_env("tok", base={"ONSALE_SECRET_KEY": "s", "PATH": "/bin"}, X="1")
    assert env == {
        "ONSALE_SECRET_KEY": "s",
        "PATH": "/bin",
        "ONSALE_JOIN_RATE_PER_MINUTE": "0",
        "ONSALE_LOG_LEVEL": "WARNING",
        "ONSALE_ADMIN_TOKEN": "tok",
        "X": "1",
    }
    fresh = launch.onsale_env("tok", base={})
    assert len(fresh["ONSALE_SECRET_KEY"]) > 30


def test_start_waits_for_ready_and_stop_reaches_the_workers(tmp_path: Path) -> None:
    server, flag = _server(tmp_path)
    flag.touch()
    with server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        workers = procstat.tree(server.pid)[1:]
        assert len(workers) == 1
    assert not server.running()
    deadline = time.monotonic() + 5
    while procstat.alive(workers[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not procstat.alive(workers[0])
    assert "listening" in server.log_tail()


def test_a_server_that_never_gets_ready_is_stopped_with_its_log(tmp_path: Path) -> None:
    server, _ = _server(tmp_path)  # no flag: 503 for ever
    with pytest.raises(RuntimeError, match=r"was not ready within 1 s\nlistening"):
        server.start(timeout=1)
    assert not server.running()


def test_a_server_that_exits_is_reported_at_once(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('bad config'); sys.exit(3)"]
    server = launch.Server(argv, dict(os.environ), free_port(), tmp_path / "log")
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"exited with 3\nbad config"):
        server.start(timeout=30)
    assert time.monotonic() - started < 10


def test_kill_takes_the_whole_group(tmp_path: Path) -> None:
    server, flag = _server(tmp_path)
    flag.touch()
    server.start()
    worker = procstat.tree(server.pid)[1]
    assert server.kill() == server.pid
    deadline = time.monotonic() + 5
    while procstat.alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not procstat.alive(worker) and not server.running()
    server.stop()  # nothing left: no error


def test_control_stopping_the_leader_alone_leaves_its_worker_running(tmp_path: Path) -> None:
    """Why stop() signals the group: SIGTERM to the leader's pid alone (what
    bench_core, bench_ws and run_sellout used to do) leaves a worker behind."""
    server, flag = _server(tmp_path)
    flag.touch()
    server.start()
    try:
        worker = procstat.tree(server.pid)[1]
        assert server.proc is not None
        server.proc.terminate()
        server.proc.wait(timeout=10)
        time.sleep(0.3)
        assert procstat.alive(worker)
    finally:
        server.stop()
    deadline = time.monotonic() + 5
    while procstat.alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not procstat.alive(worker)
