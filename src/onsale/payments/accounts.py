"""A venue's own payment account: its Stripe keys, the secret ones sealed at
rest (``onsale.secretbox``, one context per venue and per secret), opened
only to call Stripe or check a webhook; never returned, never logged.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.audit import Actor, audit
from onsale.errors import ValidationFailed
from onsale.monitoring import timing
from onsale.schema import payment_accounts
from onsale.secretbox import SecretBox

_KEYS = {
    "secret_key": re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9_]{1,200}$"),
    "publishable_key": re.compile(r"^pk_(test|live)_[A-Za-z0-9_]{1,200}$"),
    "webhook_secret": re.compile(r"^whsec_[A-Za-z0-9_+/=]{1,200}$"),
}


@dataclass(frozen=True)
class AccountForm:
    secret_key: str
    publishable_key: str
    webhook_secret: str


def parse_account(body: Any) -> AccountForm:
    """The body of ``PUT /api/admin/payment-account``. Raises ValidationFailed
    (the message never repeats a value: they are secrets)."""
    body = body if isinstance(body, dict) else {}
    errors: dict[str, str] = {}
    if body.get("provider") != "stripe":
        errors["provider"] = "one of: stripe"
    values: dict[str, str] = {}
    for name, pattern in _KEYS.items():
        value = body.get(name)
        if not isinstance(value, str) or not pattern.match(value):
            errors[name] = f"a Stripe {name.replace('_', ' ')} is required"
        else:
            values[name] = value
    if not errors and values["secret_key"].split("_")[1] != values["publishable_key"].split("_")[1]:
        errors["publishable_key"] = "test and live keys cannot be mixed"
    if errors:
        raise ValidationFailed("Some fields are invalid", fields=errors)
    return AccountForm(**values)


@dataclass(frozen=True)
class Account:
    """An opened account (secrets in memory only, for the call at hand)."""

    venue_id: str
    publishable_key: str
    secret_key: str
    webhook_secret: str

    def __repr__(self) -> str:  # a traceback or a log line shows no secret
        return f"Account(venue_id={self.venue_id!r}, publishable_key={self.publishable_key!r})"


def account_json(venue_id: str, publishable_key: str | None) -> dict[str, Any]:
    """The answer of ``/api/admin/payment-account`` (never a secret);
    ``webhook_path`` (an extension) is where Stripe must send this venue's
    events."""
    return {
        "provider": "stripe",
        "publishable_key": publishable_key,
        "configured": publishable_key is not None,
        "webhook_path": f"/api/webhooks/stripe/{venue_id}",
    }


def _context(venue_id: str, name: str) -> str:
    return f"stripe:{venue_id}:{name}"


# The public event page asks at every load which provider its venue takes:
# answered from memory for this long (a newly connected account shows up on
# the fan page within it).
PUBLIC_CACHE_SECONDS = 5.0


@dataclass
class AccountStore:
    engine: AsyncEngine
    box: SecretBox
    _public: dict[str, tuple[float, str | None]] = field(default_factory=dict)

    async def public_payments(self, venue_id: str) -> dict[str, str] | None:
        """What the fan page needs to pay a venue (``payments`` of the public
        event JSON), or None when the venue takes no Stripe payments."""
        now = time.monotonic()
        hit = self._public.get(venue_id)
        if hit is None or hit[0] < now:
            hit = (now + PUBLIC_CACHE_SECONDS, await self.publishable_key(venue_id))
            if len(self._public) > 10_000:
                self._public.clear()
            self._public[venue_id] = hit
        key = hit[1]
        return {"provider": "stripe", "publishable_key": key} if key else None

    @timing.postgres
    async def connect(self, venue_id: str, form: AccountForm, actor: str | Actor) -> dict[str, Any]:
        """Store (or replace) the venue's account, sealed; audited without secrets."""
        values = {
            "provider": "stripe",
            "publishable_key": form.publishable_key,
            "secret_key_sealed": self.box.seal(
                form.secret_key.encode(), _context(venue_id, "secret_key")
            ),
            "webhook_secret_sealed": self.box.seal(
                form.webhook_secret.encode(), _context(venue_id, "webhook_secret")
            ),
        }
        async with self.engine.begin() as conn:
            await conn.execute(
                pg_insert(payment_accounts)
                .values(venue_id=venue_id, **values)
                .on_conflict_do_update(
                    index_elements=[payment_accounts.c.venue_id],
                    set_={**values, "updated_at": sa.func.now()},
                )
            )
            self._public.pop(venue_id, None)
            await audit(
                conn,
                venue_id=venue_id,
                actor=actor,
                action="payment_account.connect",
                target=venue_id,
                details={"provider": "stripe", "publishable_key": form.publishable_key},
            )
        return account_json(venue_id, form.publishable_key)

    @timing.postgres
    async def publishable_key(self, venue_id: str) -> str | None:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    sa.select(payment_accounts.c.publishable_key).where(
                        payment_accounts.c.venue_id == venue_id
                    )
                )
            ).scalar_one_or_none()

    @timing.postgres
    async def open(self, venue_id: str) -> Account | None:
        """The venue's account with its secrets, or None. Raises
        secretbox.SealedValueError when they do not open (the server secret
        changed: the venue must connect again)."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(payment_accounts).where(payment_accounts.c.venue_id == venue_id)
                )
            ).first()
        if row is None:
            return None
        return Account(
            venue_id,
            row.publishable_key,
            self.box.open(row.secret_key_sealed, _context(venue_id, "secret_key")).decode(),
            self.box.open(row.webhook_secret_sealed, _context(venue_id, "webhook_secret")).decode(),
        )
