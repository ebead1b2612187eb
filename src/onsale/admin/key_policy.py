"""Pure rules of venue keys: how a key is made and stored, when it works, the
grace of a rotation, and the shape of a key in the venue's list.

A key is ``vk_`` and 43 URL-safe characters (256 random bits). It is stored as
its SHA-256: with 256 random bits nobody can search the hash space, so a salt
or a slow hash would add nothing, and a keyed hash (HMAC under the server
secret) would lock every venue out whenever that secret changed (the demo's
secret is new at each start). Only the first ten characters (``prefix``, 42
of the bits) are kept in clear, so a venue can tell its keys apart.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from onsale.errors import ValidationFailed

KEY_PREFIX = "vk_"
PREFIX_CHARS = 10  # "vk_" and 7 characters of the random part
DEFAULT_GRACE = timedelta(hours=24)
MAX_GRACE = timedelta(days=7)
# last_used_at is written at most this often per key, never on every request.
TOUCH_EVERY = timedelta(minutes=1)


def new_key() -> str:
    return f"{KEY_PREFIX}{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def prefix_of(key: str) -> str:
    return key[:PREFIX_CHARS]


@dataclass(frozen=True)
class StoredKey:
    """A row of ``venue_keys`` (without its hash)."""

    key_id: str
    venue_id: str
    prefix: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    # A staff key's role and person (admin.roles); a venue's own key is a manager.
    role: str = "manager"
    staff_id: str | None = None
    staff_email: str | None = None
    venue_suspended: bool = False

    def works(self, now: datetime) -> bool:
        """Not revoked and not past its expiry (expiry is exclusive)."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def permanent(self, now: datetime) -> bool:
        """Works and has no end: not a rotated key living out its grace."""
        return self.works(now) and self.expires_at is None

    def state(self, now: datetime) -> str:
        """``active|expiring|expired|revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is None:
            return "active"
        return "expiring" if now < self.expires_at else "expired"

    def needs_touch(self, now: datetime) -> bool:
        return self.last_used_at is None or now - self.last_used_at >= TOUCH_EVERY


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def key_json(key: StoredKey, now: datetime, current_id: str) -> dict[str, Any]:
    """A key as the venue's list shows it: never the key, never its hash."""
    return {
        "key_id": key.key_id,
        "prefix": key.prefix,
        "created_at": iso(key.created_at),
        "expires_at": iso(key.expires_at),
        "revoked_at": iso(key.revoked_at),
        "last_used_at": iso(key.last_used_at),
        "state": key.state(now),
        "current": key.key_id == current_id,
        "role": key.role,
        "staff_id": key.staff_id,
    }


def _only(body: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationFailed(fields={"": "an object is required"})
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValidationFailed(fields={k: "unknown field" for k in unknown})
    return body


def parse_rotation(body: Any) -> timedelta:
    """The grace of ``{"grace_seconds": N}`` (default 24 h, at most 7 days).

    Raises ValidationFailed naming the field.
    """
    value = _only(body, ("grace_seconds",)).get("grace_seconds")
    if value is None:
        return DEFAULT_GRACE
    limit = int(MAX_GRACE.total_seconds())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise ValidationFailed(fields={"grace_seconds": f"an integer between 0 and {limit}"})
    return timedelta(seconds=value)


def parse_reissue(body: Any) -> bool:
    """``revoke_others`` of ``{"revoke_others": true}`` (default false).

    Raises ValidationFailed naming the field.
    """
    value = _only(body, ("revoke_others",)).get("revoke_others", False)
    if not isinstance(value, bool):
        raise ValidationFailed(fields={"revoke_others": "true or false"})
    return value
