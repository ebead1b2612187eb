"""Pushing every connected fan their standing, once per tick, at the cost of one
Redis round trip per event per process (not one per fan).

Each process keeps its own registry of connected fans per event. Once per tick
it reads the event's queue state in one script call (which also marks its
fans present) and computes each local fan's position from it. Each fan has one
mailbox slot: only the latest message matters, an unsent older one is
replaced. A fan whose socket does not take a message within
``SEND_TIMEOUT_SECONDS`` is disconnected (it reconnects and keeps its place).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from onsale.admin.policy import Event
from onsale.monitoring import metrics
from onsale.queue.estimate import RateMeter, Speeds, estimate, likely_sold_out
from onsale.queue.store import Snapshot

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 5.0
# Presence is written to Redis every few ticks, not every tick.
TOUCH_EVERY_SECONDS = 5.0


class Fan:
    """One connected fan: their entry, number, and a one-message mailbox.

    A long-lived pump task per fan sends what the mailbox holds. A send that
    does not finish within SEND_TIMEOUT_SECONDS (the socket's buffer is full:
    the client does not read) gets the fan cut off by the next pass; no timer
    is armed per message, so a pass allocates little per fan.
    """

    __slots__ = (
        "closed",
        "entry",
        "final",
        "last_state",
        "mailbox",
        "number",
        "send",
        "sending_since",
        "task",
        "wake",
    )

    def __init__(self, entry: str, number: int, send: Callable[[str], Awaitable[None]]) -> None:
        self.entry = entry
        self.number = number  # 0 while in the pre-queue
        self.send = send
        self.mailbox: str | None = None
        self.wake = asyncio.Event()
        self.last_state = ""
        self.closed = False
        self.final = False  # the mailbox holds the last message ("admitted", "closed")
        self.sending_since = 0.0  # monotonic start of the send under way, 0 when idle
        self.task: asyncio.Task[None] | None = None

    def offer(self, message: str, *, final: bool = False) -> None:
        """Put ``message`` in the mailbox, replacing an unsent older one."""
        if self.final:
            return
        if self.mailbox is not None:
            metrics.WS_MESSAGES_DROPPED.inc()
        self.mailbox = message
        self.final = final
        self.wake.set()

    def stuck(self, now: float) -> bool:
        return bool(self.sending_since) and now - self.sending_since > SEND_TIMEOUT_SECONDS

    def cut_off(self) -> None:
        """Stop a fan that does not keep up (it reconnects and keeps its place)."""
        self.closed = True
        metrics.WS_SLOW_DISCONNECTS.inc()
        if self.task is not None:
            self.task.cancel()

    async def pump(self) -> None:
        """Send whatever the mailbox holds until the fan is closed or got its
        last message."""
        while not self.closed:
            await self.wake.wait()
            self.wake.clear()
            # The message and whether it is the last are taken together.
            message, final = self.mailbox, self.final
            self.mailbox = None
            if message is None:
                continue
            self.sending_since = time.monotonic()
            await self.send(message)
            self.sending_since = 0.0
            metrics.WS_MESSAGES_PUSHED.inc()
            if final:
                return


@dataclass
class Room:
    """The fans of one event connected to this process."""

    event: Event
    fans: dict[str, Fan] = field(default_factory=dict)
    meter: RateMeter = field(default_factory=RateMeter)
    speeds: Speeds = (None, None)  # the meter's, taken once per tick
    unnumbered: bool = False  # some fan here joined before the draw and lacks its number
    last_touch: float = 0.0


AdmitHook = Callable[[Event, str], Awaitable[str]]
Snapshotter = Callable[[str, list[str]], Awaitable[Snapshot]]
NumberLookup = Callable[[str, list[str]], Awaitable[list[int]]]


def status_message(fan: Fan, snap: Snapshot, room: Room) -> tuple[str, str]:
    """(state, JSON message) of a fan who is not admitted, from the snapshot.
    "ts" is Redis' clock at the snapshot (ms): clients measure delivery lag by it."""
    if snap.sold_out:
        return "closed", '{"type":"closed","reason":"sold_out"}'
    if fan.number <= 0:
        return "prequeue", (
            f'{{"type":"status","state":"prequeue","position":null,"ts":{snap.now_ms}}}'
        )
    position = fan.number - snap.serving
    est = estimate(position, room.speeds, snap.rate_per_minute)
    remaining = max(snap.capacity - snap.sold - snap.held, 0)
    per_order = snap.sold / snap.orders if snap.orders else 2.0
    sold_out_soon = likely_sold_out(
        ahead=position - 1,
        remaining=remaining,
        tickets_per_order=per_order,
        abandon_share=snap.abandon_share,
    )
    return "waiting", (
        f'{{"type":"status","state":"waiting","position":{position},"ahead":{position - 1},'
        f'"eta_seconds":{est.eta_seconds},"eta_p90_seconds":{est.eta_p90_seconds},'
        f'"likely_sold_out":{"true" if sold_out_soon else "false"},"ts":{snap.now_ms}}}'
    )


@dataclass
class FanOut:
    snapshot: Snapshotter
    admitted: AdmitHook  # the "admitted" (or "closed") message of a served fan
    numbers: NumberLookup  # queue numbers of entries (0: not drawn yet)
    rooms: dict[str, Room] = field(default_factory=dict)
    last_pass_seconds: float = 0.0

    def add(self, event: Event, fan: Fan) -> None:
        room = self.rooms.setdefault(event.id, Room(event))
        room.event = event
        old = room.fans.get(fan.entry)
        if old is not None:
            old.closed = True  # the same fan on a new socket: the old one stops
            old.wake.set()
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
            room.meter.add(now, snap.serving)
            room.speeds = room.meter.speeds()
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

    async def _push(self, room: Room, snap: Snapshot) -> None:
        now = time.monotonic()
        for fan in list(room.fans.values()):
            if fan.stuck(now):
                fan.cut_off()
                continue
            if fan.final:
                continue  # its last message is on its way
            if 0 < fan.number <= snap.serving and snap.drawn:
                # Once per fan: the socket closes after this last message.
                fan.last_state = "admitted"
                fan.offer(await self.admitted(room.event, fan.entry), final=True)
                continue
            state, message = status_message(fan, snap, room)
            fan.last_state = state
            fan.offer(message, final=state == "closed")

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


async def stop_pump(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
