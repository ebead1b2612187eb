"""The chaos run's timeline: the four faults, one after the other, each aimed
at a process the run started (by its PID), each recording when it started and
ended and what it saw (PIDs, Redis run_id, process state)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from chaos_backends import App, Backends
from chaos_report import Fault
from procstat import alive
from procstat import state as _proc_state

FIRST_FAULT = 4.0  # seconds after the opening: the "before" phase
APP_DOWN = 2.0
POSTGRES_DOWN = 10.0
REDIS_STALL = 3.0
# The four faults' own time, about, an app's restart included (it is slow on
# a busy machine).
FAULTS_SECONDS = 25.0


class Timeline:
    """The four faults, one after the other, ``gap`` seconds apart, in a
    thread; each records when it started and ended and what it did."""

    def __init__(
        self, backends: Backends, apps: list[App], origin: float, gap: float, say: Any
    ) -> None:
        self.backends, self.apps, self.origin, self.gap, self.say = (
            backends,
            apps,
            origin,
            gap,
            say,
        )
        self.faults: list[Fault] = []
        self.failure: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos-timeline", daemon=True)

    def _run(self) -> None:
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("app_sigkill", self.kill_app),
            ("redis_restart_empty", self.restart_redis),
            ("postgres_stop", self.stop_postgres),
            ("redis_sigstop", self.stall_redis),
        ]
        next_at = self.origin + FIRST_FAULT
        try:
            for name, step in steps:
                if self.stop.wait(max(next_at - time.time(), 0)):
                    self.say(f"load over: fault {name} skipped")
                    continue
                fault = Fault(name, time.time())
                fault.details = step()
                fault.until = time.time()
                self.faults.append(fault)
                next_at = fault.until + self.gap
        except BaseException as exc:
            self.failure = exc
            self.say(f"fault step failed: {exc!r}")

    def kill_app(self) -> dict[str, Any]:
        app = self.apps[0]
        assert app.proc
        self.say(f"SIGKILL app-1 (port {app.port}) pid {app.proc.pid}")
        pid = app.kill()
        gone = not alive(pid)
        time.sleep(APP_DOWN)
        app.start()
        assert app.proc
        self.say(f"app-1 started again: pid {app.proc.pid}")
        return {"pid_killed": pid, "killed_pid_gone": gone, "new_pid": app.proc.pid}

    def restart_redis(self) -> dict[str, Any]:
        b = self.backends
        before, pid, keys = b.redis_run_id(), b.redis_pid(), _dbsize(b.redis_port)
        self.say(f"restart Redis empty: SIGKILL pid {pid} ({keys} keys), new server same port")
        b.restart_redis_empty()
        after, keys_after = b.redis_run_id(), _dbsize(b.redis_port)
        self.say(f"Redis back: pid {b.redis_pid()}, run_id {before} -> {after}")
        return {
            "pid_before": pid,
            "pid_after": b.redis_pid(),
            "run_id_before": before,
            "run_id_after": after,
            "keys_before": keys,
            "keys_right_after": keys_after,
        }

    def stop_postgres(self) -> dict[str, Any]:
        b = self.backends
        pid = b.postgres_pid()
        self.say(f"stop Postgres (pg_ctl stop -m fast), postmaster pid {pid}")
        b.stop_postgres()
        gone = pid is not None and not alive(pid)
        stopped = time.time()
        self.stop.wait(POSTGRES_DOWN)
        b.start_postgres()
        self.say(f"Postgres started again: pid {b.postgres_pid()}")
        return {
            "pid_before": pid,
            "pid_gone": gone,
            "down_seconds": round(time.time() - stopped, 1),
            "pid_after": b.postgres_pid(),
        }

    def stall_redis(self) -> dict[str, Any]:
        b = self.backends
        pid = b.redis_pid()
        self.say(f"SIGSTOP Redis pid {pid}")
        b.pause_redis()
        time.sleep(0.1)  # the signal is delivered asynchronously
        state = _proc_state(pid)
        self.stop.wait(REDIS_STALL)
        b.resume_redis()
        self.say(f"SIGCONT Redis pid {pid}")
        return {"pid": pid, "state_while_stopped": state, "state_after": _proc_state(pid)}


def _dbsize(port: int) -> int | None:
    client = redis.Redis(port=port, socket_timeout=2)
    try:
        return int(client.dbsize())
    except redis.RedisError:
        return None
    finally:
        client.close()
