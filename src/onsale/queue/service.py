"""The waiting room as the edges and the background task use it: joining,
standing, the draw at the opening, and the admission step.

Places outlive Redis (I6, I7) without a Postgres write per join: a fan's
number is in their entry id, which their signed queue token carries; the
drawn pre-queue order is in Postgres (``draws``); the serving number is saved
once per admission step and numbers are reserved in Postgres a block at a
time. When Redis lost an event's queue, :meth:`QueueService.restore` has
onsale.recovery put the counters and the drawn order back (once per event per
process), and every fan's number comes back with their token (join, status
poll, or their open websocket's presence).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from onsale import db, tokens
from onsale.errors import NotFound, Unauthorized, Unavailable
from onsale.events.catalog import EventCatalog
from onsale.events.policy import Event
from onsale.monitoring import metrics
from onsale.queue import draw, messages, policy, repo
from onsale.queue.estimate import Meters, outlook
from onsale.queue.store import (
    AdmitResult,
    DrawPending,
    DrawStale,
    Joined,
    QueueStore,
    ReserveNeeded,
)

log = logging.getLogger(__name__)

DRAW_ATTEMPTS = 5
QUEUE_TOKEN_GRACE_SECONDS = 24 * 3600
# Numbers reserved in Postgres at a time: one write per this many joins (the
# next block is reserved when half of one is left, so no join waits). After a
# loss, numbering resumes past the block: at most this many numbers are
# skipped, and newcomers' positions count them until admission passes them.
RESERVE_BLOCK = 200
# After a restore, admission waits this long for a fan whose number Redis
# forgot to come back (a websocket's presence reaches Redis every 5 s).
RETURN_SECONDS = 10.0


def iso_seconds(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def new_entry_id() -> str:
    return f"q_{secrets.token_hex(10)}"


@dataclass(frozen=True)
class JoinResult:
    entry: str
    queue_token: str
    joined: Joined


class QueueRecovery(Protocol):
    """What the queue asks of onsale.recovery.Recovery when Redis lost data."""

    async def prepare_redis(self, event: Event) -> str: ...

    async def restore_queue(
        self, event: Event, *, durable: bool, return_ms: int, force: bool
    ) -> None: ...


@dataclass
class QueueService:
    store: QueueStore
    events: EventCatalog
    signer: tokens.Signer
    engine: AsyncEngine
    # Puts an event's state back in Redis (onsale.recovery.Recovery).
    recovery: QueueRecovery
    # Frees an event's expired holds before admission counts the stock.
    reclaim: Callable[[str], Awaitable[object]]
    # Off only in the negative controls of tests/integration/
    # test_queue_durability.py: a Redis that lost its data then loses every
    # waiting fan's place, as before places were made durable.
    durable_places: bool = True
    # Serving-number samples per event, taken at each admission step.
    meters: Meters = field(default_factory=Meters)
    # Per event: (serving, next) at this process's last admission step, and
    # the serving number it last saved.
    counters: dict[str, tuple[int, int]] = field(default_factory=dict)
    counters_saved: dict[str, int] = field(default_factory=dict)
    # Numbers this process let Redis give while Postgres could not reserve them.
    unreserved: dict[str, int] = field(default_factory=dict)
    # Restores and reservations under way (one per event per process).
    _pending: dict[tuple[str, str], asyncio.Future[None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store.restorer = self.restore

    def _queue_token(self, event: Event, entry: str) -> str:
        expires = int(event.spec.sale.closes_at.timestamp()) + QUEUE_TOKEN_GRACE_SECONDS
        return self.signer.sign(tokens.Claims("queue", event.id, entry, expires))

    def entry_of(self, event_id: str, token: str | None) -> str:
        """The queue entry a queue token names. Raises Unauthorized, TokenExpired,
        Forbidden (a token of another kind or event)."""
        if token is None:
            raise Unauthorized("A queue token is required")
        claims = self.signer.verify(token, kind="queue", event_id=event_id, now=time.time())
        return claims.subject

    async def join(self, event: Event, token: str | None) -> JoinResult:
        """Join, or find the place of the entry ``token`` names (I6).

        Raises SaleNotOpen, SoldOut, Unauthorized/Forbidden for a bad token.
        """
        entry = self.entry_of(event.id, token) if token else new_entry_id()
        joined = await self._join(event, entry, returning=token is not None)
        if 0 <= joined.reserved_left < RESERVE_BLOCK // 2:
            # Reserve the next block before it is needed: no join waits for it.
            ahead = functools.partial(self._reserve, event.id, joined.number)
            self._start("reserve", event.id, ahead)
        # A numbered entry's id carries its number: a new token names it.
        if token is None or joined.entry != entry:
            token = self._queue_token(event, joined.entry)
        return JoinResult(joined.entry, token, joined)

    async def _join(self, event: Event, entry: str, *, returning: bool) -> Joined:
        for _ in range(DRAW_ATTEMPTS):
            try:
                return await self.store.join(event.id, entry, returning=returning)
            except DrawPending:
                await self.draw(event)
            except ReserveNeeded as need:
                reserve = functools.partial(self._reserve, event.id, need.number)
                await self._once("reserve", event.id, reserve)
            except Unavailable:
                await self.recovery.prepare_redis(event)
        raise Unavailable("The queue is busy opening, retry shortly")

    def _start(
        self, kind: str, event_id: str, work: Callable[[], Awaitable[None]]
    ) -> asyncio.Future[None]:
        """Start ``work``, unless the same kind of work is under way for this
        event in this process (thousands of joins may ask at once): that one."""
        key = (kind, event_id)
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(work())
            self._pending[key] = pending
            pending.add_done_callback(functools.partial(self._done, key))
        return pending

    def _done(self, key: tuple[str, str], task: asyncio.Future[None]) -> None:
        self._pending.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            # Awaited by whoever needed it; logged for work started ahead.
            log.warning("%s of %s failed: %s", key[0], key[1], task.exception())

    async def _once(self, kind: str, event_id: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work``, or wait for the same work already under way."""
        await asyncio.shield(self._start(kind, event_id, work))

    async def _reserve(self, event_id: str, number: int) -> None:
        """Reserve numbers in Postgres before Redis gives them: after a loss,
        numbering resumes past every number a token may carry."""
        upto = number + RESERVE_BLOCK
        try:
            await repo.reserve(self.engine, event_id, upto)
        except Exception as exc:
            if not db.unavailable(exc):
                raise
            # Joining must not stop with Postgres: numbers are given anyway. Only
            # a Redis that also lost its data before the next reservation could
            # then give one of them twice.
            log.warning("numbers of %s up to %d given unreserved: %s", event_id, upto, exc)
            self.unreserved[event_id] = max(upto, self.unreserved.get(event_id, 0))
        await self.store.reserved(event_id, upto)

    async def restore(self, event_id: str, *, force: bool = False) -> None:
        """Make Redis hold the event's queue again after it lost its data: the
        settings and inventory (from Postgres), the serving number and the
        reserved numbers saved, and the drawn pre-queue. Any process may call
        it at any time; only the first call changes anything, unless
        ``force`` (Redis came back older than Postgres: raise its counters)."""
        work = functools.partial(self._restore, event_id, force=force)
        await self._once("restore", event_id, work)

    async def _restore(self, event_id: str, *, force: bool = False) -> None:
        event = await self.events.get(event_id)
        await self.recovery.restore_queue(
            event,
            durable=self.durable_places,
            return_ms=int(RETURN_SECONDS * 1000),
            force=force,
        )

    async def draw(self, event: Event) -> bool:
        """Number the pre-queue in a random order once the sale opens; True if
        this call drew it (any process may call it; only one draw happens)."""
        record = await repo.ensure_draw(self.engine, event.id)
        for _ in range(DRAW_ATTEMPTS):
            order = draw.order(record.seed, await self.store.prequeue(event.id))
            try:
                drawn = await self.store.draw(event.id, order)
            except DrawStale:
                continue
            if drawn:
                await repo.save_drawn(self.engine, event.id, order)
                log.info("pre-queue of %s drawn: %d entries", event.id, len(order))
            return drawn
        return False

    async def reveal(self, event: Event) -> dict[str, Any]:
        """The draw as anyone may check it: the commitment from the start, the
        seed and the drawn order once the sale has opened."""
        record = await repo.ensure_draw(self.engine, event.id)
        out: dict[str, Any] = {
            "event_id": event.id,
            "commitment": record.commitment,
            "algorithm": draw.ALGORITHM,
            "drawn": False,
        }
        entries = record.entries
        if entries is None and await self.store.is_drawn(event.id):
            entries = await self.store.drawn_order(event.id)
            await repo.save_drawn(self.engine, event.id, entries)
        if entries is not None:
            out.update(drawn=True, seed=record.seed.hex(), entries=entries)
        return out

    async def _view(self, event: Event, entry: str) -> policy.QueueView:
        """The fan's standing; a fan admitted just before Redis lost its data
        who may never have been told gets their session (once)."""
        view = await self.store.view(event.id, entry)
        if policy.admitted_just_before_the_loss(view) and await self.store.regrant(event.id, entry):
            view = await self.store.view(event.id, entry)
        return view

    async def admitted_message(self, event: Event, entry: str) -> str:
        """The push of a fan whose number was served: their access token, or
        ``closed`` when their session is over already."""
        view = await self._view(event, entry)
        status = policy.fan_status(view)
        if status is None or status.state != "admitted" or not status.session_expires_ms:
            reason = (status.reason if status else None) or "session_ended"
            return messages.encode(messages.closed(reason))
        token, expires = self.access_token(event, entry, status.session_expires_ms)
        return messages.encode(messages.admitted(token, iso_seconds(expires)))

    async def status(self, event: Event, token: str | None) -> policy.FanStatus:
        """Where the fan stands. Raises NotFound for an entry Redis does not know."""
        entry = self.entry_of(event.id, token)
        view = await self._view(event, entry)
        status = policy.fan_status(view)
        if status is None:
            raise NotFound("This queue entry is unknown; join again with the same token")
        if view.number > 0:
            status = replace(status, number=view.number)
        if status.position is not None:
            status = self._outlook(event, view, status)
        return status

    def _outlook(
        self, event: Event, view: policy.QueueView, status: policy.FanStatus
    ) -> policy.FanStatus:
        """A waiting fan's status with the estimates the push gives: the ETA,
        its p90, ``likely_sold_out`` and the wait for a hold to end."""
        assert status.position is not None
        seen = outlook(view, self.meters.speeds(event.id))
        eta, p90 = seen.eta(status.position)
        return replace(
            status,
            eta_seconds=eta,
            eta_p90_seconds=p90,
            likely_sold_out=seen.sold_out_before(status.position),
            next_release_seconds=seen.release_wait or None,
        )

    def access_token(self, event: Event, entry: str, session_expires_ms: int) -> tuple[str, int]:
        """A signed access token for an admitted entry, and its expiry (unix s).

        It outlives the shopping session by one hold's time, so that a hold made
        late in the session can still be paid; new holds need a live session.
        """
        expires = session_expires_ms // 1000 + event.spec.hold_seconds
        claims = tokens.Claims("access", event.id, entry, expires)
        return self.signer.sign(claims), expires

    async def admit(self, event: Event) -> AdmitResult:
        if not await self.store.is_configured(event.id):
            await self.recovery.prepare_redis(event)
        if event.spec.sale.opens_at.timestamp() <= time.time() and not await self.store.is_drawn(
            event.id
        ):
            await self.draw(event)
        # Free expired holds first: admission counts the stock not held.
        await self.reclaim(event.id)
        result = await self.store.admit(event.id)
        metrics.QUEUE_ADMISSION_RUNS.inc()
        metrics.QUEUE_ADMITTED.inc(result.admitted)
        metrics.QUEUE_SKIPPED_AWAY.inc(result.skipped)
        metrics.QUEUE_PARKED_AWAY.inc(result.parked)
        self.meters.add(event.id, time.monotonic(), result.serving)
        if self.durable_places:
            await self._keep(event.id, result)
        return result

    async def _keep(self, event_id: str, result: AdmitResult) -> None:
        """Save the serving number (once per step and only on a change: O(events)
        writes, not O(fans)) and a reservation Postgres missed; notice a Redis
        that went back in time (both numbers only ever grow), which then gets
        its counters raised."""
        seen = self.counters.get(event_id)
        if seen and (result.serving < seen[0] or result.next < seen[1]):
            await self.restore(event_id, force=True)
        self.counters[event_id] = (result.serving, result.next)
        if event_id in self.unreserved:  # numbers given while Postgres was down
            try:
                await repo.reserve(self.engine, event_id, self.unreserved[event_id])
                del self.unreserved[event_id]
            except Exception as exc:
                if not db.unavailable(exc):
                    raise
        if result.serving > self.counters_saved.get(event_id, 0):
            try:
                await repo.save_serving(self.engine, event_id, result.serving)
            except Exception as exc:  # admission goes on; saved next step
                if not db.unavailable(exc):
                    raise
                log.warning("serving number of %s not saved: %s", event_id, exc)
                return
            self.counters_saved[event_id] = result.serving

    async def restore_session(self, event: Event, claims: tokens.Claims) -> bool:
        """Give an admitted fan back the shopping session Redis lost, from their
        access token; False when Redis knows the session ended (checkout done,
        left, or expired) or the token's session is over."""
        view = await self.store.view(event.id, claims.subject)
        session_end_ms = (claims.expires_at - event.spec.hold_seconds) * 1000
        if session_end_ms <= view.now_ms:
            return False
        started_ms = session_end_ms - event.spec.admission.session_seconds * 1000
        if not policy.may_restore_session(view, started_ms):
            return False
        return await self.store.restore_session(event.id, claims.subject, session_end_ms)

    def shopper_of(self, event_id: str, token: str | None) -> str:
        """The queue entry an access token names. Raises Unauthorized,
        TokenExpired, Forbidden (a token of another kind or event)."""
        return self.signer.access(token, event_id, time.time()).subject

    async def presence(self, event: Event, token: str | None) -> bool:
        """The admitted shopper ``token`` names is there (their page's
        heartbeat): one Redis call. One parked as gone gets their session
        back while it lasts. True when the session is live."""
        entry = self.shopper_of(event.id, token)
        metrics.QUEUE_PRESENCE_BEATS.inc()
        return await self.store.presence(event.id, entry) > 0

    async def counts(self, event_id: str) -> dict[str, int]:
        """Fans waiting, admitted so far, and shopping now."""
        return await self.store.counts(event_id)

    async def leave(self, event: Event, token: str | None) -> bool:
        return await self.store.leave(event.id, self.entry_of(event.id, token))
