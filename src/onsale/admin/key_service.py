"""Venue keys: checking the key of each venue request, rotating, listing,
revoking, and the platform's re-issue.

No process keeps key look-ups in memory: every venue request reads its key's
row (one indexed read by hash), so a revoked key is refused by every process
on its next request, with no delay to bound. ``last_used_at`` is written at
most once a minute per key (key_policy.TOUCH_EVERY).

Every method takes ``now`` (default: the process clock) so that tests drive
the grace instead of sleeping through it. Expiry compares app clocks across
processes; a few seconds of skew do not matter for a grace counted in hours,
and revocation does not depend on any clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.admin import key_policy, key_repo
from onsale.admin.key_policy import StoredKey
from onsale.audit import Actor
from onsale.errors import TokenExpired, Unauthorized


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class KeyService:
    engine: AsyncEngine
    clock: Callable[[], datetime] = field(default=_utcnow)
    # Changes of one venue's keys take the venue's row lock; False only for
    # the negative control of the tests (two revocations racing).
    serialize: bool = True

    async def authenticate(self, key: str, *, now: datetime | None = None) -> StoredKey:
        """The working key ``key`` is. Raises Unauthorized (unknown or revoked)
        and TokenExpired (a rotated key whose grace has ended)."""
        now = now or self.clock()
        found = await key_repo.find(self.engine, key)
        if found is None or found.revoked_at is not None:
            raise Unauthorized("Unknown or revoked venue key")
        if not found.works(now):
            raise TokenExpired("This venue key was replaced and its grace has ended")
        if found.needs_touch(now):
            await key_repo.touch(self.engine, found.key_id, now)
        return found

    async def list_keys(self, caller: StoredKey, *, now: datetime | None = None) -> dict[str, Any]:
        now = now or self.clock()
        keys = await key_repo.list_keys(self.engine, caller.venue_id)
        return {"keys": [key_policy.key_json(k, now, caller.key_id) for k in keys]}

    async def rotate(
        self,
        caller: StoredKey,
        body: Any,
        *,
        now: datetime | None = None,
        actor: Actor | None = None,
    ) -> dict[str, Any]:
        """A new key; the caller's works until ``previous_expires_at``.

        Raises ValidationFailed (the grace), Forbidden (the caller is itself
        being retired), Unauthorized (it stopped working meanwhile).
        """
        grace = key_policy.parse_rotation(body)
        return await key_repo.rotate(
            self.engine,
            caller.venue_id,
            caller.key_id,
            grace,
            now or self.clock(),
            lock=self.serialize,
            actor=actor,
        )

    async def revoke(
        self,
        caller: StoredKey,
        key_id: str,
        *,
        now: datetime | None = None,
        actor: Actor | None = None,
    ) -> bool:
        """Revoke one of the caller's venue's keys at once (False: it already
        was). Raises NotFound, Forbidden, Unauthorized, LastKey."""
        return await key_repo.revoke(
            self.engine,
            caller.venue_id,
            caller.key_id,
            key_id,
            now or self.clock(),
            lock=self.serialize,
            actor=actor,
        )

    async def reissue(
        self, venue_id: str, body: Any, *, now: datetime | None = None
    ) -> dict[str, Any]:
        """The platform's new key for a venue (a lost or leaked key).

        Raises ValidationFailed and NotFound (no such venue).
        """
        revoke_others = key_policy.parse_reissue(body)
        return await key_repo.reissue(
            self.engine, venue_id, revoke_others, now or self.clock(), lock=self.serialize
        )
