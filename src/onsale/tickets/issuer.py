"""What the order transaction asks of tickets/: codes for the new tickets
(before the transaction: signing needs the venue's key, not the database
row), then, as the transaction's last statements, the e-mail row and the
numbers (numbering.py explains why last)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale import secretbox, tokens
from onsale.tickets import outbox
from onsale.tickets.codes import make_code
from onsale.tickets.keys import VenueKeys
from onsale.tickets.numbering import Numbering


@dataclass(frozen=True)
class TicketIssuer:
    keys: VenueKeys
    numbering: Numbering

    @classmethod
    def build(cls, engine: AsyncEngine, signer: tokens.Signer) -> TicketIssuer:
        box = secretbox.SecretBox(signer.derive(secretbox.PURPOSE))
        return cls(VenueKeys(engine, box), Numbering(engine))

    async def code(self, venue_id: str, event_id: str, ticket_id: str) -> str:
        return make_code(await self.keys.private(venue_id), event_id, ticket_id)

    async def enqueue_mail(self, conn: AsyncConnection, venue_id: str, order_id: str) -> None:
        """The e-mail row alone, for an order transaction that takes the
        numbers itself in its last statement (checkout/repo.py)."""
        await outbox.enqueue(conn, outbox.ORDER_TICKETS, venue_id, order_id=order_id)

    async def in_order_transaction(
        self,
        conn: AsyncConnection,
        *,
        order_id: str,
        venue_id: str,
        ticket_ids: Sequence[str],
        send_email: bool,
    ) -> list[int]:
        """The e-mail row and the tickets' numbers, on the order's
        connection. Call it last. Returns the numbers, in ``ticket_ids``'s
        order."""
        if send_email:
            await outbox.enqueue(conn, outbox.ORDER_TICKETS, venue_id, order_id=order_id)
        return await self.numbering.assign(conn, venue_id, ticket_ids)
