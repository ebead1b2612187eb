"""Stripe's webhooks: the signature checked with the venue's webhook secret
(``Stripe-Signature``: ``t=<unix time>,v1=<HMAC-SHA256 of "t.payload">``, 5
minutes tolerance), and each event recorded by its id so that a replay
changes nothing.

Only the event's id, type and the id of its object are trusted from the
payload, and only once signed: the PaymentIntent itself is read again from
Stripe with the venue's key before anything is done about it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import stripe
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.errors import InvalidRequest
from onsale.monitoring import timing
from onsale.schema import stripe_events

TOLERANCE_SECONDS = 300
# The event that says a PaymentIntent was authorized (manual capture): the
# fan paid, whether or not their page ever calls checkout.
AUTHORIZED_EVENT = "payment_intent.amount_capturable_updated"


@dataclass(frozen=True)
class StripeEvent:
    id: str
    type: str
    object_id: str  # the PaymentIntent's id for payment_intent.* events


def verify(payload: bytes, signature: str | None, secret: str) -> StripeEvent:
    """The event of a signed payload. Raises InvalidRequest (400) for a
    missing, bad or stale signature, or a payload that is not an event."""
    if not signature:
        raise InvalidRequest("A Stripe-Signature header is required")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, secret, tolerance=TOLERANCE_SECONDS
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise InvalidRequest("The Stripe signature does not verify") from exc
    try:
        raw = json.loads(payload)
        obj = raw["data"]["object"]
        event = StripeEvent(str(raw["id"]), str(raw["type"]), str(obj.get("id", "")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidRequest("The payload is not a Stripe event") from exc
    if not event.id.startswith("evt_") or len(event.id) > 255:
        raise InvalidRequest("The payload is not a Stripe event")
    return event


@timing.postgres
async def record(engine: AsyncEngine, venue_id: str, event: StripeEvent) -> bool:
    """Record the event; False when it was recorded already (a replay)."""
    async with engine.begin() as conn:
        done = await conn.execute(
            pg_insert(stripe_events)
            .values(
                id=event.id,
                venue_id=venue_id,
                type=event.type[:100],
                payment_ref=event.object_id[:255] or None,
            )
            .on_conflict_do_nothing(index_elements=[stripe_events.c.id])
            .returning(stripe_events.c.id)
        )
        return done.first() is not None


@timing.postgres
async def set_outcome(engine: AsyncEngine, event_id: str, outcome: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            stripe_events.update().where(stripe_events.c.id == event_id).values(outcome=outcome)
        )
