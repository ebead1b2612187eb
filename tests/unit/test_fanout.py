"""The push path without a network: sends that finish at once cost no task,
a full socket gets one, only the newest message waits behind it, a fan that
does not keep up is cut off, and the last message ends the talk."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from onsale.events.policy import Event
from onsale.queue import eager
from onsale.queue.estimate import outlook
from onsale.queue.fanout import (
    SEND_TIMEOUT_SECONDS,
    Fan,
    FanOut,
    status_message,
)
from onsale.queue.store import Snapshot
from tests.unit._specs import example_spec


class Socket:
    """A recording fake socket whose buffer can be full (``room`` cleared)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.room = asyncio.Event()
        self.room.set()
        self.broken = False

    async def send(self, text: str) -> None:
        await self.room.wait()
        if self.broken:
            raise ConnectionResetError("gone")
        self.sent.append(text)


async def test_a_send_that_need_not_wait_runs_at_once_without_a_task() -> None:
    ran: list[str] = []

    async def quick() -> None:
        ran.append("done")

    assert eager.start(quick()) is None
    assert ran == ["done"]


async def test_a_send_that_waits_gets_a_task_that_finishes_it() -> None:
    gate = asyncio.Event()
    ran: list[str] = []

    async def slow() -> None:
        ran.append("started")
        await gate.wait()
        await asyncio.sleep(0)  # a bare yield after the wait, too
        ran.append("done")

    task = eager.start(slow())
    assert task is not None and ran == ["started"]
    gate.set()
    await asyncio.wait_for(task, 1)
    assert ran == ["started", "done"]


async def test_errors_reach_the_caller_before_a_wait_and_the_task_after() -> None:
    gate = asyncio.Event()

    async def fails_now() -> None:
        raise ValueError("now")

    async def fails_later() -> None:
        await gate.wait()
        raise ValueError("later")

    with pytest.raises(ValueError, match="now"):
        eager.start(fails_now())
    task = eager.start(fails_later())
    assert task is not None
    gate.set()
    with pytest.raises(ValueError, match="later"):
        await asyncio.wait_for(task, 1)


async def test_cancelling_the_task_runs_the_coroutines_cleanup() -> None:
    gate = asyncio.Event()
    cleaned: list[bool] = []

    async def slow() -> None:
        try:
            await gate.wait()
        finally:
            cleaned.append(True)

    task = eager.start(slow())
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]
    assert not gate._waiters  # type: ignore[attr-defined]  # the waiter is gone


async def test_messages_go_out_at_once_while_the_socket_has_room() -> None:
    socket = Socket()
    fan = Fan("q_1", 5, socket.send)
    assert fan.offer("a") and fan.offer("b")
    assert socket.sent == ["a", "b"] and fan.busy is None and not fan.done.done()


async def test_behind_a_full_socket_only_the_newest_message_waits() -> None:
    socket = Socket()
    fan = Fan("q_1", 5, socket.send)
    socket.room.clear()
    assert not fan.offer("1")  # waits: the socket is full
    assert fan.busy is not None
    for message in ("2", "3", "4"):
        assert not fan.offer(message)
    socket.room.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert socket.sent == ["1", "4"]  # 2 and 3 were replaced, never sent
    assert fan.busy is None and not fan.done.done()


async def test_a_fan_that_does_not_keep_up_is_cut_off() -> None:
    socket = Socket()
    fan = Fan("q_1", 5, socket.send)
    socket.room.clear()
    fan.offer("1")
    assert not fan.stuck(fan.busy_since + SEND_TIMEOUT_SECONDS - 0.1)
    assert fan.stuck(fan.busy_since + SEND_TIMEOUT_SECONDS + 0.1)
    busy = fan.busy
    fan.cut_off()
    await asyncio.sleep(0)
    assert busy is not None and busy.cancelled()
    assert fan.done.done() and fan.closed
    assert not fan.offer("2")  # nothing more goes to a fan cut off
    socket.room.set()
    await asyncio.sleep(0)
    assert socket.sent == []


async def test_the_last_message_ends_the_talk_even_behind_a_full_socket() -> None:
    socket = Socket()
    fan = Fan("q_1", 5, socket.send)
    socket.room.clear()
    fan.offer("status")
    fan.offer('{"type":"admitted"}', final=True)
    assert not fan.offer("late status")  # nothing after the last message
    assert not fan.done.done()
    socket.room.set()
    await asyncio.wait_for(fan.done, 1)
    assert socket.sent == ["status", '{"type":"admitted"}']


async def test_a_broken_socket_ends_the_talk() -> None:
    socket = Socket()
    socket.broken = True
    fan = Fan("q_1", 5, socket.send)
    assert not fan.offer("a")
    assert fan.done.done() and fan.closed


def _snapshot(**changes: int | bool) -> Snapshot:
    fields: dict[str, Any] = {
        "serving": 10,
        "next": 20,
        "drawn": True,
        "active": 0,
        "capacity": 100,
        "sold": 0,
        "held": 0,
        "abandoned": 0,
        "now_ms": 1_000,
        "rate_per_minute": 60,
        "orders": 0,
        "prequeue": 0,
    }
    return Snapshot(**{**fields, **changes})


async def test_a_tick_tells_each_fan_its_number_position_and_wait() -> None:
    event = Event("ev_1", "ven_1", example_spec(), datetime.now(UTC))
    sockets = [Socket(), Socket()]

    async def snapshot(event_id: str, touch: list[str]) -> Snapshot:
        return _snapshot()

    async def admitted(event: Event, entry: str) -> str:
        return f'{{"type":"admitted","entry":"{entry}"}}'

    async def numbers(event_id: str, entries: list[str]) -> list[int]:
        raise AssertionError("every fan here has its number")

    fanout = FanOut(snapshot, admitted, numbers)
    fans = [Fan("q_a-15", 15, sockets[0].send), Fan("q_b-9", 9, sockets[1].send)]
    for fan in fans:
        fanout.add(event, fan)
    await fanout.tick()
    waiting = json.loads(sockets[0].sent[-1])
    assert waiting["number"] == 15 and waiting["position"] == 5 and waiting["ahead"] == 4
    assert waiting["eta_seconds"] == 5  # 60 a minute, no history yet
    assert json.loads(sockets[1].sent[-1]) == {"type": "admitted", "entry": "q_b-9"}
    assert fans[1].done.done() and not fans[0].done.done()


async def test_after_the_draw_a_fan_missing_from_it_is_told_to_join_again() -> None:
    event = Event("ev_1", "ven_1", example_spec(), datetime.now(UTC))
    lost, found = Socket(), Socket()

    async def snapshot(event_id: str, touch: list[str]) -> Snapshot:
        return _snapshot()

    async def admitted(event: Event, entry: str) -> str:
        raise AssertionError("nobody is served here")

    async def numbers(event_id: str, entries: list[str]) -> list[int]:
        return [-1 if entry == "q_lost" else 12 for entry in entries]

    fanout = FanOut(snapshot, admitted, numbers)
    fans = [Fan("q_lost", 0, lost.send), Fan("q_found", 0, found.send)]
    for fan in fans:
        fanout.add(event, fan)
    await fanout.tick()
    assert json.loads(lost.sent[-1]) == {"type": "closed", "reason": "lost"}
    assert fans[0].done.done()
    assert json.loads(found.sent[-1])["position"] == 2 and not fans[1].done.done()


def test_when_every_place_left_is_held_the_push_says_so() -> None:
    """Issue 11: nobody is admitted before a hold ends, and holds end at known
    times: the ETA is at least until the first one runs out, and the fans at
    the front are not told it is likely over (held places may come back)."""
    snap = _snapshot(capacity=10, sold=7, held=3, next_release_ms=91_000)
    state, text = status_message(12, snap, outlook(snap, (None, None)))
    message = json.loads(text)
    assert state == "waiting" and message["position"] == 2
    assert message["all_held"] is True and message["next_release_seconds"] == 90
    assert message["eta_seconds"] == 90 and message["eta_p90_seconds"] >= 90
    assert message["likely_sold_out"] is False  # one fan ahead, three places held
    # Places free: the usual message, without the held fields.
    snap = _snapshot(capacity=10, sold=7, held=2, next_release_ms=91_000)
    message = json.loads(status_message(12, snap, outlook(snap, (None, None)))[1])
    assert "all_held" not in message and message["eta_seconds"] == 2
