"""The waiting room's state in Redis: queue numbers, the serving number, the
pre-queue and the active shoppers. Every change is one Lua script in ``lua/``.

When Redis loses its data, every script answers "lost" until the queue's
counters are restored from Postgres: the store then calls its ``restorer``
(set by the queue service) once and runs the script again. A store without a
restorer (tests of the scripts alone) keeps everything in Redis only.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from onsale.errors import SaleNotOpen, SoldOut, Unavailable
from onsale.events.policy import EventSpec
from onsale.keys import EventKeys, event_keys
from onsale.monitoring import metrics
from onsale.queue.policy import QueueView
from onsale.redis import AnyRedis, Scripts

SCRIPTS = [
    "join",
    "draw",
    "admit",
    "status",
    "leave",
    "snapshot",
    "restore",
    "restore_draw",
    "reserve",
    "regrant",
    "presence",
]
# Drawn entries written back per script call after a loss (a call blocks Redis).
RESTORE_CHUNK = 2000

Restorer = Callable[[str], Awaitable[None]]


class DrawPending(Exception):
    """The sale is open but its pre-queue has not been drawn yet."""


class DrawStale(Exception):
    """The pre-queue changed between reading it and drawing it."""


class ReserveNeeded(Exception):
    """The next number is past the numbers reserved in Postgres."""

    def __init__(self, number: int) -> None:
        super().__init__(f"number {number} is not reserved yet")
        self.number = number


@dataclass(frozen=True)
class Joined:
    number: int  # 0 while in the pre-queue
    new: bool
    entry: str = ""  # the entry id, which carries the number with durable places
    reserved_left: int = -1  # numbers still reserved after this one (-1: not told)


@dataclass(frozen=True)
class AdmitResult:
    admitted: int
    serving: int
    next: int
    active: int
    skipped: int = 0
    parked: int = 0  # shoppers parked as gone by this step
    stall_ms: int = 0  # the stall under way after this step (0: none)


@dataclass(frozen=True)
class Snapshot:
    """One event's queue state, as ``lua/snapshot.lua`` reads it each tick."""

    serving: int
    next: int
    drawn: bool
    active: int
    capacity: int
    sold: int
    held: int
    abandoned: int
    now_ms: int
    rate_per_minute: int
    orders: int
    prequeue: int
    next_release_ms: int = 0  # when the earliest hold runs out (0: nothing held)

    @property
    def sold_out(self) -> bool:
        return self.capacity > 0 and self.sold >= self.capacity

    @property
    def abandon_share(self) -> float:
        """Share of the numbers served so far that were skipped as away."""
        return self.abandoned / self.serving if self.serving else 0.0


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class QueueStore:
    """``shopper_presence``: admission parks admitted shoppers unseen past the
    event's shopper grace who hold nothing (``lua/admit.lua``); off, every
    admitted fan keeps a slot and counts against the stock until the session
    ends (the negative control of tests/integration/test_no_stall.py)."""

    def __init__(self, client: AnyRedis, prefix: str, *, shopper_presence: bool = True) -> None:
        self._client = client
        self._prefix = prefix
        self.shopper_presence = shopper_presence
        self._scripts = Scripts(
            client,
            "onsale.queue.lua",
            SCRIPTS,
            prelude="_lib",
            seconds=metrics.REDIS_SCRIPT_SECONDS,
        )
        # Restores an event's counters from Postgres after Redis lost them.
        self.restorer: Restorer | None = None

    def keys(self, event_id: str) -> EventKeys:
        return event_keys(self._prefix, event_id)

    async def _call(self, name: str, event_id: str, args: list[object]) -> list[object]:
        reply: list[object] = await self._scripts.call(name, self.keys(event_id).queue_keys(), args)
        return reply

    async def _run(self, name: str, event_id: str, args: list[object]) -> list[object]:
        """Run a queue script; when the queue lost its data, restore it first.

        Raises Unavailable when it cannot be restored (not configured, or no
        restorer)."""
        reply = await self._call(name, event_id, args)
        if reply and reply[0] == "lost":
            if self.restorer is None:
                raise Unavailable("The queue is being prepared, retry shortly")
            await self.restorer(event_id)
            reply = await self._call(name, event_id, args)
            if reply and reply[0] == "lost":
                raise Unavailable("The queue is being restored, retry shortly")
        return reply

    async def configure(self, event_id: str, spec: EventSpec) -> None:
        """Write the event's sale window and admission settings (idempotent).
        Without a restorer, the queue is ready at once (nothing to restore)."""
        sale, adm = spec.sale, spec.admission
        mapping: dict[str | bytes, str | int] = {
            "prequeue_ms": _ms(sale.prequeue_opens_at.timestamp()),
            "opens_ms": _ms(sale.opens_at.timestamp()),
            "closes_ms": _ms(sale.closes_at.timestamp()),
            "rate": adm.rate_per_minute,
            "max_active": adm.max_active,
            "session_ms": adm.session_seconds * 1000,
            "grace_ms": adm.absent_grace_seconds * 1000,
            "shopper_grace_ms": adm.shopper_grace_seconds * 1000,
        }
        if self.restorer is None:
            mapping["restored"] = "1"
        await self._client.hset(self.keys(event_id).queue, mapping=mapping)  # type: ignore[arg-type]

    async def is_configured(self, event_id: str) -> bool:
        return bool(await self._client.hexists(self.keys(event_id).queue, "opens_ms"))

    async def join(self, event_id: str, entry: str, *, returning: bool = False) -> Joined:
        """Give ``entry`` a place, or find the one it has; ``returning``: the
        entry comes from the fan's token, and gets back the place Redis lost.

        Raises SaleNotOpen, SoldOut, DrawPending, or Unavailable when the
        event's queue is not configured in Redis (yet).
        """
        reply = await self._run("join", event_id, [entry, int(returning)])
        if reply[0] == "ok":
            left = int(str(reply[4])) if len(reply) > 4 else -1
            return Joined(int(str(reply[1])), reply[2] == "new", str(reply[3]), left)
        code = reply[1]
        if code == "reserve":
            raise ReserveNeeded(int(str(reply[2])))
        if code == "sale_not_open":
            raise SaleNotOpen()
        if code == "sold_out":
            raise SoldOut()
        if code == "draw_pending":
            raise DrawPending()
        raise Unavailable("The queue is being prepared, retry shortly")

    async def prequeue(self, event_id: str) -> list[str]:
        return [str(m) for m in await self._client.smembers(self.keys(event_id).prequeue)]

    async def draw(self, event_id: str, order: list[str]) -> bool:
        """Number the pre-queue in ``order``; False if it was drawn already.

        Raises DrawStale when ``order`` is not exactly the pre-queue, and
        SaleNotOpen before the opening.
        """
        reply = await self._run("draw", event_id, [json.dumps(order)])
        if reply[0] == "ok":
            return reply[1] == "drawn"
        if reply[1] == "stale":
            raise DrawStale()
        raise SaleNotOpen()

    async def is_drawn(self, event_id: str) -> bool:
        return await self._client.hget(self.keys(event_id).queue, "drawn") == "1"

    async def admit(self, event_id: str) -> AdmitResult:
        presence = "1" if self.shopper_presence else "0"
        r = [int(str(v)) for v in await self._run("admit", event_id, [presence])]
        return AdmitResult(*r)

    async def presence(self, event_id: str, entry: str) -> int:
        """An admitted shopper is there (their page's heartbeat); one parked
        as gone gets their session back. The session's expiry (ms), 0 when
        there is none."""
        reply = await self._run("presence", event_id, [entry])
        return int(str(reply[1]))

    async def view(self, event_id: str, entry: str) -> QueueView:
        r = [int(str(v)) for v in await self._run("status", event_id, [entry])]
        return QueueView(
            number=r[0],
            serving=r[1],
            next=r[2],
            session_expires_ms=r[3],
            now_ms=r[4],
            sold_out=bool(r[5]),
            drawn=bool(r[6]),
            rate_per_minute=r[7],
            skipped=bool(r[8]),
            restored_ms=r[9],
            capacity=r[10],
            sold=r[11],
            held=r[12],
            orders=r[13],
            abandoned=r[14],
            lost_serving=r[15],
            band_from=r[16],
            next_release_ms=r[17],
        )

    async def restore(
        self,
        event_id: str,
        *,
        serving: int,
        reserved: int,
        drawn: list[str] | None,
        durable: bool,
        return_ms: int,
        after_loss: bool,
        force: bool = False,
    ) -> bool:
        """Put back the counters (and the drawn pre-queue) of a queue whose
        data Redis lost, or mark a new queue ready; False if it was already.
        ``force`` raises the counters of a queue Redis thinks is whole (it
        came back older than Postgres). Safe to run from two processes at
        once. Raises Unavailable when the queue is not configured."""
        order = drawn or []
        for offset in range(0, len(order), RESTORE_CHUNK):
            chunk = order[offset : offset + RESTORE_CHUNK]
            await self._call("restore_draw", event_id, [offset, json.dumps(chunk), int(force)])
        reply = await self._call(
            "restore",
            event_id,
            [
                serving,
                max(reserved, len(order)),
                int(drawn is not None),
                int(durable),
                return_ms,
                int(after_loss),
                int(force),
            ],
        )
        if reply[0] != "ok":
            raise Unavailable("The queue is being prepared, retry shortly")
        return reply[1] == "restored"

    async def regrant(self, event_id: str, entry: str) -> bool:
        """Give a session to a fan admitted just before Redis lost its data
        (who may never have been told), once; True if given."""
        reply = await self._run("regrant", event_id, [entry])
        return int(str(reply[1])) > 0

    async def reserved(self, event_id: str, upto: int) -> None:
        """Numbers up to ``upto`` are reserved in Postgres: joins may give them."""
        await self._call("reserve", event_id, [upto])

    async def restore_session(self, event_id: str, entry: str, expires_ms: int) -> bool:
        """Put ``entry`` back among the active shoppers (if it is not there)."""
        keys = self.keys(event_id)
        added = await self._client.zadd(keys.active, {entry: expires_ms}, nx=True)
        if added:  # seen now (Redis' clock): the shopper grace starts
            now_s, now_us = await self._client.time()
            await self._client.zadd(keys.present, {entry: int(now_s) * 1000 + int(now_us) // 1000})
        return bool(added)

    async def leave(self, event_id: str, entry: str) -> bool:
        reply = await self._run("leave", event_id, [entry])
        return bool(reply[1])

    async def counts(self, event_id: str) -> dict[str, int]:
        """waiting, admitted (numbers served), active shoppers, prequeue."""
        k = self.keys(event_id)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.hmget(k.queue, ["next", "serving"])
            pipe.zcard(k.active)
            pipe.scard(k.prequeue)
            (next_no, serving), active, pre = await pipe.execute()
        nxt, srv = int(next_no or 0), int(serving or 0)
        return {
            "waiting": nxt - srv + int(pre),
            "admitted": srv,
            "active": int(active),
            "prequeue": int(pre),
        }

    async def snapshot(self, event_id: str, touch: list[str]) -> Snapshot:
        """The queue state for one tick; marks the ``touch`` entries present."""
        r = [int(str(v)) for v in await self._run("snapshot", event_id, [json.dumps(touch)])]
        return Snapshot(r[0], r[1], bool(r[2]), *r[3:])

    async def numbers(self, event_id: str, entries: list[str]) -> list[int]:
        """The queue numbers of ``entries`` (0 in the pre-queue, -1 unknown)."""
        raw = await self._client.hmget(self.keys(event_id).entries, entries)
        return [int(v) if v is not None else -1 for v in raw]

    async def drawn_order(self, event_id: str) -> list[str]:
        """The pre-queue entries in drawn order (empty before the draw)."""
        return [str(e) for e in await self._client.lrange(self.keys(event_id).draw_order, 0, -1)]
