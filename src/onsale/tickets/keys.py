"""Each venue's Ed25519 key for ticket codes: made on first use, the private
half sealed at rest (onsale.secretbox, context ``ticketkey:<venue_id>``), the
public half given to door devices. Cached per process: a key never changes.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.monitoring import timing
from onsale.schema import ticket_keys
from onsale.secretbox import SecretBox
from onsale.tickets.codes import b64, unb64


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
        self._lock = asyncio.Lock()

    async def private(self, venue_id: str) -> Ed25519PrivateKey:
        """The venue's key, made and stored the first time. Raises
        SealedValueError when the stored key was sealed under another server
        secret (the tickets it signed still verify with the public key)."""
        key = self._private.get(venue_id)
        if key is None:
            async with self._lock:
                key = self._private.get(venue_id) or await self._load_or_make(venue_id)
                self._private[venue_id] = key
        return key

    async def public(self, venue_id: str) -> bytes:
        return _raw_public(await self.private(venue_id))

    async def public_b64(self, venue_id: str) -> str:
        return b64(await self.public(venue_id))

    @timing.postgres
    async def _load_or_make(self, venue_id: str) -> Ed25519PrivateKey:
        fresh = Ed25519PrivateKey.generate()
        raw = fresh.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        async with self.engine.begin() as conn:
            # Two processes may make one at once: the first stored wins.
            await conn.execute(
                insert(ticket_keys)
                .values(
                    venue_id=venue_id,
                    public_key=b64(_raw_public(fresh)),
                    private_sealed=self._box.seal(raw, context(venue_id)),
                )
                .on_conflict_do_nothing(index_elements=["venue_id"])
            )
            sealed = (
                await conn.execute(
                    sa.select(ticket_keys.c.private_sealed).where(
                        ticket_keys.c.venue_id == venue_id
                    )
                )
            ).scalar_one()
        return Ed25519PrivateKey.from_private_bytes(self._box.open(sealed, context(venue_id)))


def public_from_b64(text: str) -> bytes:
    return unb64(text)
