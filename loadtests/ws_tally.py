"""What one client process of bench_ws.py plans and counts: its share of the
fans (Plan) and what they received (Tally), message by message. Pure: the
clock is an argument."""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection

STATUS_PREFIX = '{"type":"status"'
FINAL_TYPES = ("admitted", "closed")


@dataclass(frozen=True)
class Plan:
    """What one client process does (sent to it pickled)."""

    url: str
    event_id: str
    fans: int
    concurrency: int
    ramp_seconds: float
    lifetime_seconds: float  # the bound on the whole process

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")


@dataclass
class Tally:
    """What the fans of one client process saw. Counts in the window only,
    unless the name says otherwise."""

    fans: int
    t_start: float = math.inf
    t_stop: float = math.inf
    stopping: bool = False
    settled: int = 0  # fans whose join + connect finished, well or not
    connected: int = 0
    open_now: int = 0
    open_at_start: int = 0
    status: int = 0
    untimed: int = 0  # status messages without "ts"
    admitted: int = 0
    admitted_all_run: int = 0
    closed_all_run: int = 0
    lost_final_all_run: int = 0  # closed by the server with no admitted/closed message
    cpu_window: float = 0.0
    lag_ms: Counter[int] = field(default_factory=Counter)
    # ts of a tick -> [first arrival ms, last arrival ms, messages]
    ticks: dict[int, list[int]] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    server_closes: Counter[str] = field(default_factory=Counter)
    sockets: set[ClientConnection] = field(default_factory=set)
    ramp_done: asyncio.Event = field(default_factory=asyncio.Event)

    def settle(self) -> None:
        self.settled += 1
        if self.settled >= self.fans:
            self.ramp_done.set()

    def record(self, raw: str | bytes, now: float) -> bool:
        """Count one message; True when it is the fan's last one."""
        text = raw if isinstance(raw, str) else raw.decode()
        in_window = self.t_start <= now < self.t_stop
        if text.startswith(STATUS_PREFIX):
            if in_window:
                self._status(text, now)
            return False
        kind = json.loads(text).get("type")
        if kind == "admitted":
            self.admitted_all_run += 1
            self.admitted += in_window
        elif kind == "closed":
            self.closed_all_run += 1
        return kind in FINAL_TYPES

    def _status(self, text: str, now: float) -> None:
        self.status += 1
        ts = ts_of(text)
        if ts is None:
            self.untimed += 1
            return
        now_ms = int(now * 1000)
        self.lag_ms[max(now_ms - ts, 0)] += 1
        tick = self.ticks.setdefault(ts, [now_ms, now_ms, 0])
        tick[0], tick[1], tick[2] = min(tick[0], now_ms), max(tick[1], now_ms), tick[2] + 1

    def ramp_report(self) -> dict[str, Any]:
        return {"connected": self.connected, "failures": dict(self.failures)}

    def report(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "open_at_start": self.open_at_start,
            "status": self.status,
            "untimed": self.untimed,
            "admitted": self.admitted,
            "admitted_all_run": self.admitted_all_run,
            "closed_all_run": self.closed_all_run,
            "lost_final_all_run": self.lost_final_all_run,
            "cpu_window": self.cpu_window,
            "lag_ms": dict(self.lag_ms),
            "ticks": self.ticks,
            "failures": dict(self.failures),
            "server_closes": dict(self.server_closes),
        }


def ts_of(text: str) -> int | None:
    """The "ts" of a status message (its last field, so read from the end)."""
    at = text.rfind('"ts":')
    if at < 0:
        return None
    digits = text[at + 5 :].rstrip("} ")
    if digits.isdigit():
        return int(digits)
    ts = json.loads(text).get("ts")
    return ts if isinstance(ts, int) else None
