"""The waiting room as the edges and the background task use it: joining,
standing, the draw at the opening, and the admission step.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from onsale import tokens
from onsale.admin.policy import Event
from onsale.admin.service import EventService
from onsale.errors import NotFound, Unauthorized, Unavailable
from onsale.monitoring import metrics
from onsale.queue import draw, policy, repo
from onsale.queue.estimate import RateMeter, estimate
from onsale.queue.store import AdmitResult, DrawPending, DrawStale, Joined, QueueStore

log = logging.getLogger(__name__)

DRAW_ATTEMPTS = 5
QUEUE_TOKEN_GRACE_SECONDS = 24 * 3600


def iso_seconds(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def new_entry_id() -> str:
    return f"q_{secrets.token_hex(10)}"


@dataclass(frozen=True)
class JoinResult:
    entry: str
    queue_token: str
    joined: Joined


@dataclass
class QueueService:
    store: QueueStore
    events: EventService
    secret: bytes
    # Serving-number samples per event, taken at each admission step.
    meters: dict[str, RateMeter] = field(default_factory=dict)

    def _queue_token(self, event: Event, entry: str) -> str:
        expires = int(event.spec.sale.closes_at.timestamp()) + QUEUE_TOKEN_GRACE_SECONDS
        return tokens.sign(self.secret, tokens.Claims("queue", event.id, entry, expires))

    def entry_of(self, event_id: str, token: str | None) -> str:
        """The queue entry a queue token names. Raises Unauthorized, TokenExpired,
        Forbidden (a token of another kind or event)."""
        if token is None:
            raise Unauthorized("A queue token is required")
        claims = tokens.verify(self.secret, token, kind="queue", event_id=event_id, now=time.time())
        return claims.subject

    async def join(self, event: Event, token: str | None) -> JoinResult:
        """Join, or find the place of the entry ``token`` names (I6).

        Raises SaleNotOpen, SoldOut, Unauthorized/Forbidden for a bad token.
        """
        entry = self.entry_of(event.id, token) if token else new_entry_id()
        joined = await self._join(event, entry)
        return JoinResult(entry, token or self._queue_token(event, entry), joined)

    async def _join(self, event: Event, entry: str) -> Joined:
        for _ in range(DRAW_ATTEMPTS):
            try:
                return await self.store.join(event.id, entry)
            except DrawPending:
                await self.draw(event)
            except Unavailable:
                await self.events.prepare_redis(event)
        raise Unavailable("The queue is busy opening, retry shortly")

    async def draw(self, event: Event) -> bool:
        """Number the pre-queue in a random order once the sale opens; True if
        this call drew it (any process may call it; only one draw happens)."""
        record = await repo.ensure_draw(self.events.engine, event.id)
        for _ in range(DRAW_ATTEMPTS):
            order = draw.order(record.seed, await self.store.prequeue(event.id))
            try:
                drawn = await self.store.draw(event.id, order)
            except DrawStale:
                continue
            if drawn:
                await repo.save_drawn(self.events.engine, event.id, order)
                log.info("pre-queue of %s drawn: %d entries", event.id, len(order))
            return drawn
        return False

    async def reveal(self, event: Event) -> dict[str, Any]:
        """The draw as anyone may check it: the commitment from the start, the
        seed and the drawn order once the sale has opened."""
        record = await repo.ensure_draw(self.events.engine, event.id)
        out: dict[str, Any] = {
            "event_id": event.id,
            "commitment": record.commitment,
            "algorithm": draw.ALGORITHM,
            "drawn": False,
        }
        entries = record.entries
        if entries is None and await self.store.is_drawn(event.id):
            entries = await self.store.drawn_order(event.id)
            await repo.save_drawn(self.events.engine, event.id, entries)
        if entries is not None:
            out.update(drawn=True, seed=record.seed.hex(), entries=entries)
        return out

    async def admitted_message(self, event: Event, entry: str) -> str:
        """The push of a fan whose number was served: their access token, or
        ``closed`` when their session is over already."""
        view = await self.store.view(event.id, entry)
        status = policy.fan_status(view)
        if status is None or status.state != "admitted" or not status.session_expires_ms:
            reason = (status.reason if status else None) or "session_ended"
            return json.dumps({"type": "closed", "reason": reason}, separators=(",", ":"))
        token, expires = self.access_token(event, entry, status.session_expires_ms)
        return json.dumps(
            {"type": "admitted", "access_token": token, "access_expires_at": iso_seconds(expires)},
            separators=(",", ":"),
        )

    async def status(self, event: Event, token: str | None) -> policy.FanStatus:
        """Where the fan stands. Raises NotFound for an entry Redis does not know."""
        entry = self.entry_of(event.id, token)
        view = await self.store.view(event.id, entry)
        status = policy.fan_status(view)
        if status is None:
            raise NotFound("This queue entry is unknown; join again with the same token")
        if status.position is not None:
            meter = self.meters.get(event.id, RateMeter())
            est = estimate(status.position, meter.speeds(), view.rate_per_minute)
            status = replace(
                status, eta_seconds=est.eta_seconds, eta_p90_seconds=est.eta_p90_seconds
            )
        return status

    def access_token(self, event: Event, entry: str, session_expires_ms: int) -> tuple[str, int]:
        """A signed access token for an admitted entry, and its expiry (unix s).

        It outlives the shopping session by one hold's time, so that a hold made
        late in the session can still be paid; new holds need a live session.
        """
        expires = session_expires_ms // 1000 + event.spec.hold_seconds
        claims = tokens.Claims("access", event.id, entry, expires)
        return tokens.sign(self.secret, claims), expires

    async def admit(self, event: Event) -> AdmitResult:
        if not await self.store.is_configured(event.id):
            await self.events.prepare_redis(event)
        if event.spec.sale.opens_at.timestamp() <= time.time() and not await self.store.is_drawn(
            event.id
        ):
            await self.draw(event)
        # Free expired holds first: admission counts the stock not held.
        await self.events.inventory.reclaim(event.id)
        result = await self.store.admit(event.id)
        metrics.QUEUE_ADMISSION_RUNS.inc()
        metrics.QUEUE_ADMITTED.inc(result.admitted)
        metrics.QUEUE_SKIPPED_AWAY.inc(result.skipped)
        self.meters.setdefault(event.id, RateMeter()).add(time.monotonic(), result.serving)
        return result

    async def restore_session(self, event: Event, claims: tokens.Claims) -> bool:
        """Give an admitted fan back the shopping session Redis lost, from their
        access token; False when Redis still knows the entry (then the session
        really ended: checkout done, left, or expired)."""
        view = await self.store.view(event.id, claims.subject)
        if view.number >= 0:
            return False
        session_end_ms = (claims.expires_at - event.spec.hold_seconds) * 1000
        if session_end_ms <= view.now_ms:
            return False
        return await self.store.restore_session(event.id, claims.subject, session_end_ms)

    async def leave(self, event: Event, token: str | None) -> bool:
        return await self.store.leave(event.id, self.entry_of(event.id, token))


def status_json(status: policy.FanStatus) -> dict[str, Any]:
    out: dict[str, Any] = {"state": status.state, "position": status.position}
    if status.state == "waiting":
        out.update(
            ahead=status.ahead,
            eta_seconds=status.eta_seconds,
            eta_p90_seconds=status.eta_p90_seconds,
        )
    if status.reason:
        out["reason"] = status.reason
    return out
