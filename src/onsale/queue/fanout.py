"""Pushing every connected fan their standing, once per tick, at the cost of one
Redis round trip per event per process (not one per fan).

Each process keeps its own registry of connected fans per event. Once per tick
it reads the event's queue state in one script call (which also marks its
fans present) and computes each local fan's position from it; what all fans of
the tick share (speeds, the sold-out outlook, the JSON around the numbers) is
worked out once. The pass sends each message on the spot (``eager``): a send
that does not have to wait costs no task and no wake-up. Only a fan whose
socket is full gets a task that finishes the send; meanwhile newer messages
replace its unsent one (only the latest matters), and a fan whose send has
not finished within ``SEND_TIMEOUT_SECONDS`` is disconnected (it reconnects
and keeps its place).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from onsale.events.policy import Event
from onsale.monitoring import metrics
from onsale.queue import eager, messages
from onsale.queue.estimate import Meters, Outlook, Speeds, outlook
from onsale.queue.store import Snapshot

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 5.0
# Presence is written to Redis every few ticks, not every tick.
TOUCH_EVERY_SECONDS = 5.0

Sender = Callable[[str], Coroutine[Any, Any, None]]


class Fan:
    """One connected fan: their entry, number, and how their messages go out.

    ``done`` is resolved when the server ends the talk: the last message
    ("admitted", "closed") is sent, the fan was cut off, or the socket failed.
    """

    __slots__ = (
        "busy",
        "busy_since",
        "close_code",
        "closed",
        "done",
        "entry",
        "final",
        "last_state",
        "mailbox",
        "number",
        "send",
    )

    def __init__(self, entry: str, number: int, send: Sender) -> None:
        self.entry = entry
        self.number = number  # 0 while in the pre-queue
        self.send = send
        self.last_state = ""
        self.closed = False
        self.close_code = 1000  # the socket's close code once the talk is over
        self.final = False  # the last message is sent or on its way
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A send that had to wait: the task finishing it, since when, and the
        # newest message to send after it (older unsent ones are dropped).
        self.busy: asyncio.Task[None] | None = None
        self.busy_since = 0.0
        self.mailbox: tuple[str, bool] | None = None

    def offer(self, message: str, *, final: bool = False) -> bool:
        """Send ``message`` now, or after the send under way (replacing an
        unsent older one). True when it went out at once."""
        if self.final or self.closed:
            return False
        self.final = final
        if self.busy is not None:
            if self.mailbox is not None:
                metrics.WS_MESSAGES_DROPPED.inc()
            self.mailbox = (message, final)
            return False
        return self._send(message, final)

    def _send(self, message: str, final: bool) -> bool:
        try:
            task = eager.start(self.send(message))
        except Exception:  # the socket is gone: the talk is over
            self.end()
            return False
        if task is None:
            if final:
                self.end()
            return True
        self.busy, self.busy_since = task, time.monotonic()
        task.add_done_callback(self._sent)
        return False

    def _sent(self, task: asyncio.Task[None]) -> None:
        """A send that had to wait is over: send the newest message, if any."""
        self.busy = None
        if task.cancelled() or task.exception() is not None:
            self.end()
            return
        metrics.WS_MESSAGES_PUSHED.inc()
        if self.mailbox is not None and not self.closed:
            (message, final), self.mailbox = self.mailbox, None
            if self._send(message, final):
                metrics.WS_MESSAGES_PUSHED.inc()
        elif self.final:
            self.end()

    def stuck(self, now: float) -> bool:
        return self.busy is not None and now - self.busy_since > SEND_TIMEOUT_SECONDS

    def cut_off(self) -> None:
        """Stop a fan that does not keep up (it reconnects and keeps its place)."""
        metrics.WS_SLOW_DISCONNECTS.inc()
        self.end()

    def restart(self) -> None:
        """This process is going away (onsale.drain): the socket closes with
        1012, and the fan reconnects to another node, keeping its place."""
        self.close_code = 1012
        self.end()

    def end(self) -> None:
        """No more messages: the talk is over."""
        self.closed = True
        if self.busy is not None:
            self.busy.cancel()
        if not self.done.done():
            self.done.set_result(None)


@dataclass
class Room:
    """The fans of one event connected to this process."""

    event: Event
    fans: dict[str, Fan] = field(default_factory=dict)
    speeds: Speeds = (None, None)  # the event's meter's, taken once per tick
    unnumbered: bool = False  # some fan here joined before the draw and lacks its number
    last_touch: float = 0.0


AdmitHook = Callable[[Event, str], Awaitable[str]]
Snapshotter = Callable[[str, list[str]], Awaitable[Snapshot]]
NumberLookup = Callable[[str, list[str]], Awaitable[list[int]]]


def status_message(number: int, snap: Snapshot, view: Outlook) -> tuple[str, str]:
    """(state, JSON message) of a fan with queue ``number`` who is not admitted
    (the messages are built in onsale.queue.messages)."""
    if snap.sold_out:
        return "closed", messages.CLOSED_SOLD_OUT
    if number <= 0:
        return "prequeue", messages.prequeue_text(snap.now_ms)
    position = number - snap.serving
    eta, p90 = view.eta(position)
    return "waiting", messages.waiting_text(
        number=number,
        position=position,
        eta=eta,
        p90=p90,
        likely_sold_out=view.sold_out_before(position),
        release_wait=view.release_wait,
        ts=snap.now_ms,
    )


@dataclass
class FanOut:
    snapshot: Snapshotter
    admitted: AdmitHook  # the "admitted" (or "closed") message of a served fan
    numbers: NumberLookup  # queue numbers of entries (0: not drawn yet)
    # The admission rate measured per event (shared with the status poll).
    meters: Meters = field(default_factory=Meters)
    rooms: dict[str, Room] = field(default_factory=dict)
    last_pass_seconds: float = 0.0

    def add(self, event: Event, fan: Fan) -> None:
        room = self.rooms.setdefault(event.id, Room(event))
        room.event = event
        old = room.fans.get(fan.entry)
        if old is not None:
            old.end()  # the same fan on a new socket: the old one stops
        room.fans[fan.entry] = fan
        room.unnumbered = room.unnumbered or fan.number <= 0
        metrics.WS_CONNECTIONS.set(self.connected())

    def remove(self, event_id: str, fan: Fan) -> None:
        room = self.rooms.get(event_id)
        if room and room.fans.get(fan.entry) is fan:
            del room.fans[fan.entry]
            if not room.fans:
                del self.rooms[event_id]
        metrics.WS_CONNECTIONS.set(self.connected())

    def connected(self) -> int:
        return sum(len(r.fans) for r in self.rooms.values())

    async def tick(self) -> None:
        """One pass over every room: one Redis call per room, then every fan."""
        started = time.perf_counter()
        for event_id, room in list(self.rooms.items()):
            now = time.monotonic()
            touch: list[str] = []
            if now - room.last_touch >= TOUCH_EVERY_SECONDS:
                touch, room.last_touch = list(room.fans), now
            snap = await self.snapshot(event_id, touch)
            room.speeds = self.meters.speeds(event_id)
            if snap.drawn and room.unnumbered:
                await self._learn_numbers(event_id, room)
            await self._push(room, snap)
        self.last_pass_seconds = time.perf_counter() - started
        metrics.WS_PUSH_PASS_SECONDS.observe(self.last_pass_seconds)

    async def _learn_numbers(self, event_id: str, room: Room) -> None:
        """After the draw, the pre-queue fans connected here learn their
        numbers: one read for all of them, once."""
        waiting = [fan for fan in room.fans.values() if fan.number <= 0]
        room.unnumbered = False
        if not waiting:
            return
        numbers = await self.numbers(event_id, [fan.entry for fan in waiting])
        for fan, number in zip(waiting, numbers, strict=True):
            fan.number = number
            if number < 0:
                # Not in the draw: Redis lost the pre-queue and this fan was
                # not back in time. Joining again with the token finds the
                # place if the drawn order kept it, else lines up anew.
                fan.last_state = "closed"
                fan.offer(messages.CLOSED_LOST, final=True)

    async def _push(self, room: Room, snap: Snapshot) -> None:
        now = time.monotonic()
        view = outlook(snap, room.speeds)
        pushed = 0
        for fan in list(room.fans.values()):
            if fan.final or fan.closed:
                continue  # its last message is on its way
            if fan.busy is not None and fan.stuck(now):
                fan.cut_off()
                continue
            if 0 < fan.number <= snap.serving and snap.drawn:
                # Once per fan: the socket closes after this last message.
                fan.last_state = "admitted"
                pushed += fan.offer(await self.admitted(room.event, fan.entry), final=True)
                continue
            state, message = status_message(fan.number, snap, view)
            fan.last_state = state
            pushed += fan.offer(message, final=state == "closed")
        metrics.WS_MESSAGES_PUSHED.inc(pushed)

    async def run(self, interval: float) -> None:
        """A pass every ``interval`` seconds, on a fixed cadence: a slow pass
        does not push the next one later."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: fans keep their sockets, retry
                log.warning("fan-out tick failed: %s", exc)
            next_at = max(next_at + interval, loop.time())
            await asyncio.sleep(next_at - loop.time())
