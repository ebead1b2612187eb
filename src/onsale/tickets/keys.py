"""Each venue's Ed25519 keys for ticket codes: made on first use, the private
half sealed at rest (onsale.secretbox, context ``ticketkey:<venue_id>``), the
public halves given to door devices.

A venue may have several keys: the newest one that opens signs. A sealed key
that no longer opens (``ONSALE_SECRET_KEY`` changed, or several processes
started without one, each with its own random secret) is not an outage: a new
key is made and signs from then on, and the old public keys still verify the
tickets they signed. The public keys are cached per process and read again
when a code does not verify with them (another process may have made a key).
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.monitoring import timing
from onsale.schema import ticket_keys
from onsale.secretbox import SealedValueError, SecretBox
from onsale.tickets.codes import b64, unb64

log = logging.getLogger(__name__)


def context(venue_id: str) -> str:
    return f"ticketkey:{venue_id}"


def _raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class VenueKeys:
    """The venues' signing keys. ``box`` is the server's SecretBox."""

    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self.engine = engine
        self._box = box
        self._private: dict[str, Ed25519PrivateKey] = {}
        self._public: dict[str, list[bytes]] = {}
        self._lock = asyncio.Lock()

    async def private(self, venue_id: str) -> Ed25519PrivateKey:
        """The key that signs the venue's new tickets (made when none opens)."""
        key = self._private.get(venue_id)
        if key is None:
            async with self._lock:
                key = self._private.get(venue_id) or await self._load_or_make(venue_id)
                self._private[venue_id] = key
        return key

    async def publics(self, venue_id: str, *, fresh: bool = False) -> list[bytes]:
        """Every public key of the venue, newest first (none before its first
        ticket). ``fresh``: read again, not from this process's cache."""
        if fresh or venue_id not in self._public:
            self._public[venue_id] = await self._read_publics(venue_id)
        return self._public[venue_id]

    async def publics_b64(self, venue_id: str) -> list[str]:
        await self.private(venue_id)  # a door device gets a key even before any sale
        return [b64(k) for k in await self.publics(venue_id, fresh=True)]

    @timing.postgres
    async def _read_publics(self, venue_id: str) -> list[bytes]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(ticket_keys.c.public_key)
                .where(ticket_keys.c.venue_id == venue_id)
                .order_by(ticket_keys.c.id.desc())
            )
            return [unb64(k) for (k,) in rows]

    @timing.postgres
    async def _load_or_make(self, venue_id: str) -> Ed25519PrivateKey:
        async with self.engine.begin() as conn:
            # One maker per venue at a time (two processes' first sale at once).
            await conn.execute(
                sa.select(
                    sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(context(venue_id), 0))
                )
            )
            sealed = (
                await conn.execute(
                    sa.select(ticket_keys.c.private_sealed)
                    .where(ticket_keys.c.venue_id == venue_id)
                    .order_by(ticket_keys.c.id.desc())
                )
            ).all()
            for (value,) in sealed:
                try:
                    raw = self._box.open(value, context(venue_id))
                except SealedValueError:
                    continue
                return Ed25519PrivateKey.from_private_bytes(raw)
            if sealed:
                log.warning(
                    "no ticket key of this venue opens with this server secret; a new one signs",
                    extra={"venue_id": venue_id},
                )
            fresh = Ed25519PrivateKey.generate()
            raw = fresh.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            await conn.execute(
                ticket_keys.insert().values(
                    venue_id=venue_id,
                    public_key=b64(_raw_public(fresh)),
                    private_sealed=self._box.seal(raw, context(venue_id)),
                )
            )
        self._public.pop(venue_id, None)
        return fresh
