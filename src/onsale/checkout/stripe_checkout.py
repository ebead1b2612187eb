"""Paying for a hold through the venue's own Stripe account (API.md,
"Payments through Stripe").

1. ``start_payment`` (``POST /api/holds/{id}/payment``): a PaymentIntent for
   the hold's total, manual capture, created with the request's idempotency
   key; the buyer is kept with the payment row (a webhook may need it);
2. the fan page confirms it with Stripe.js (onsale never sees the card);
3. ``verify`` (checkout step 2 for ``"provider": "stripe"``): the
   PaymentIntent is read from Stripe; it must be authorized (402) and be this
   hold's, for its amount and currency (409 ``payment_mismatch``); then the
   checkout writes the order and captures, as with any provider;
4. ``webhook``: ``payment_intent.amount_capturable_updated`` writes the same
   order for a fan who paid and left, while the hold or its places are free,
   else cancels the payment and records the notice for the fan.

A capture Stripe refuses after the order is written leaves the order and the
payment ``authorized``: the reconciler retries the capture (notes/stripe.md).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from onsale import faults
from onsale.checkout import payment_repo, policy, repo
from onsale.checkout.payment_repo import Payment
from onsale.errors import (
    CheckoutInProgress,
    Conflict,
    HoldExpired,
    NotFound,
    OnsaleError,
    PaymentDeclined,
    PaymentMismatch,
    PaymentsNotConfigured,
    RateLimited,
    Unavailable,
    ValidationFailed,
)
from onsale.events.policy import Event
from onsale.inventory.policy import HoldRequest
from onsale.inventory.service import new_hold_id
from onsale.inventory.store import Hold
from onsale.payments import notices, webhooks
from onsale.payments.providers import PaymentError
from onsale.payments.stripe_gateway import AUTHORIZED, CANCELLABLE, Intent, UnknownIntent
from onsale.payments.stripe_provider import NAME, NotConfigured, StripeProvider

if TYPE_CHECKING:
    from onsale.checkout.service import CheckoutService, Outcome
    from onsale.events.catalog import EventCatalog

log = logging.getLogger(__name__)

# A PaymentIntent nobody confirmed (the fan never entered a card, or is still
# typing) is left alone this long before the reconciler cancels it; one that
# is authorized without an order goes after ONSALE_ORPHAN_PAYMENT_SECONDS.
UNCONFIRMED_AFTER = timedelta(hours=1)
# PaymentIntents one hold may have (each new Idempotency-Key makes one):
# enough for a fan who changes their e-mail address, too few to flood the
# venue's Stripe account from one hold.
MAX_INTENTS_PER_HOLD = 5


def payment_answer(account_key: str, intent: Intent) -> dict[str, Any]:
    return {
        "provider": NAME,
        "payment_id": intent.id,
        "client_secret": intent.client_secret,
        "publishable_key": account_key,
        "amount_cents": intent.amount,
        "currency": intent.currency,
    }


def intent_fits(intent: Intent, payment: Payment, quote: policy.Quote) -> bool:
    """Whether the PaymentIntent is the one onsale created for this hold's
    total (its metadata, amount and currency)."""
    return (
        intent.metadata.get("hold_id") == payment.hold_id
        and intent.metadata.get("payment_id") == payment.id
        and intent.amount == quote.total_cents == payment.amount_cents
        and intent.currency == quote.currency
    )


def order_answer(service: CheckoutService, event: Event, order: repo.OrderRow) -> dict[str, Any]:
    """The answer a checkout gives for an order already written (by a webhook)."""
    return {
        "order_id": order.order_id,
        "order_token": service.order_token(event, order.order_id),
        "status": order.status,
        "total_cents": order.total_cents,
        "fees_cents": sum(t.fee_cents for t in order.tickets),
        "currency": order.currency,
        "tickets": [
            {
                "ticket_id": t.ticket_id,
                "section": t.section,
                "seat": t.seat,
                "price_cents": t.price_cents,
                "fee_cents": t.fee_cents,
                "code": t.code,
            }
            for t in order.tickets
        ],
    }


def _places(hold: Hold) -> str:
    return json.dumps({"section": hold.section, "seats": list(hold.seats), "q": hold.quantity})


@dataclass
class StripeCheckout:
    service: CheckoutService
    provider: StripeProvider
    events: EventCatalog

    # ------------------------------------------------------------ the payment

    async def start_payment(
        self, event: Event, hold_id: str, entry: str, key: str, body: Any
    ) -> dict[str, Any]:
        """Step 1. The same key again: the same PaymentIntent.

        Raises ValidationFailed, PaymentsNotConfigured, NotFound, HoldExpired,
        Forbidden, CheckoutInProgress, RateLimited, Unavailable.
        """
        buyer = policy.parse_buyer(body)
        engine = self.service.engine
        try:
            account = await self.provider.account(event.venue_id)
        except NotConfigured as exc:
            raise PaymentsNotConfigured() from exc
        earlier = await payment_repo.by_key(engine, NAME, key, hold_id)
        if earlier is not None and earlier.provider_ref:
            intent = await self._retrieve(event.venue_id, earlier.provider_ref)
            return payment_answer(account.publishable_key, intent)
        # Through step 1 and straight back: the hold is the caller's, alive,
        # not in someone's checkout and under its limit of declines (429).
        hold = await self.service._begin(event, hold_id, entry, key)
        await self.service._back_to_held(event.id, hold_id)
        if await payment_repo.count_for_hold(engine, NAME, hold_id) >= MAX_INTENTS_PER_HOLD:
            raise RateLimited("Too many payments for this hold", retry_after=60)
        quote = policy.quote(event.spec, hold.section, hold.seats, hold.quantity)
        payment_id = await payment_repo.payment_create(
            engine,
            event_id=event.id,
            hold_id=hold_id,
            provider=NAME,
            key=key,
            amount_cents=quote.total_cents,
            currency=quote.currency,
            last4="",
            venue_id=event.venue_id,
            buyer=(buyer.email, buyer.name),
            queue_entry=entry or None,
        )
        await payment_repo.set_places(engine, payment_id, _places(hold))
        metadata = {
            "hold_id": hold_id,
            "event_id": event.id,
            "venue_id": event.venue_id,
            "payment_id": payment_id,
        }
        try:
            _, intent = await self.provider.create_intent(
                event.venue_id,
                quote.total_cents,
                quote.currency,
                metadata,
                f"onsale:{hold_id}:{key}",
            )
        except PaymentError as exc:
            raise Unavailable("The payment provider did not answer") from exc
        await payment_repo.payment_set(engine, payment_id, "pending", ref=intent.id)
        return payment_answer(account.publishable_key, intent)

    async def _retrieve(self, venue_id: str, intent_id: str) -> Intent:
        try:
            return await self.provider.retrieve(venue_id, intent_id)
        except UnknownIntent as exc:
            raise PaymentMismatch() from exc
        except NotConfigured as exc:
            raise PaymentsNotConfigured() from exc
        except PaymentError as exc:
            raise Unavailable("The payment provider did not answer") from exc

    # ----------------------------------------------------------- the checkout

    async def verify(self, event: Event, hold: Hold, ref: str, quote: policy.Quote) -> str:
        """Checkout step 2 for Stripe: the payment row of an authorized
        PaymentIntent of this hold. Raises PaymentMismatch, PaymentDeclined
        (the hold back to held, a decline counted), Unavailable."""
        engine = self.service.engine
        try:
            payment = await payment_repo.by_ref(engine, NAME, ref)
            if payment is None or payment.hold_id != hold.hold_id or payment.event_id != event.id:
                raise PaymentMismatch()
            intent = await self._retrieve(event.venue_id, ref)
            if not intent_fits(intent, payment, quote):
                raise PaymentMismatch()
        except (PaymentMismatch, PaymentsNotConfigured) as exc:
            await self.service._back_to_held(event.id, hold.hold_id)
            raise PaymentMismatch() from exc
        except Unavailable:
            await self.service._back_to_held(event.id, hold.hold_id)
            raise
        if intent.status != AUTHORIZED:
            await self.service._back_to_held(event.id, hold.hold_id, declined=True)
            raise PaymentDeclined(reason=intent.status)
        await payment_repo.payment_set(engine, payment.id, "authorized")
        self.service.faults.check(faults.AFTER_AUTHORIZE)
        return payment.id

    async def order_of(self, event: Event, hold_id: str, ref: str) -> Outcome | None:
        """The order a webhook wrote for this hold's PaymentIntent, as a
        checkout's answer (200), or None."""
        from onsale.checkout.service import Outcome

        payment = await payment_repo.by_ref(self.service.engine, NAME, ref)
        if payment is None or payment.hold_id != hold_id or payment.order_id is None:
            return None
        order = await repo.get_order(self.service.engine, payment.order_id)
        if order is None or order.event_id != event.id:
            return None
        return Outcome(200, order_answer(self.service, event, order))

    # ------------------------------------------------------------ the webhook

    async def webhook(self, venue_id: str, payload: bytes, signature: str | None) -> str:
        """Handle one signed Stripe event of ``venue_id``; what was done.

        Raises InvalidRequest (400: unsigned, forged, stale, or no account).
        """
        try:
            account = await self.provider.account(venue_id)
        except NotConfigured:
            account = None
        # Checked with a throwaway secret when the venue has none, so that an
        # unknown venue costs the same and answers the same as a bad signature.
        event = webhooks.verify(payload, signature, account.webhook_secret if account else "-")
        if account is None:
            from onsale.errors import InvalidRequest

            raise InvalidRequest("The Stripe signature does not verify")
        if not await webhooks.record(self.service.engine, venue_id, event):
            return "replayed"
        outcome = "ignored"
        if event.type == webhooks.AUTHORIZED_EVENT and event.object_id.startswith("pi_"):
            outcome = await self._authorized(venue_id, event.object_id)
        await webhooks.set_outcome(self.service.engine, event.id, outcome)
        return outcome

    async def _authorized(self, venue_id: str, ref: str) -> str:
        engine = self.service.engine
        payment = await payment_repo.by_ref(engine, NAME, ref)
        if payment is None or payment.venue_id != venue_id:
            return "unknown_payment"  # another venue's, or not onsale's
        if payment.order_id is not None or payment.status in ("voided", "captured", "refunded"):
            return "done_already"
        intent = await self._retrieve(venue_id, ref)
        if intent.status != AUTHORIZED:
            return "not_authorized"
        event = await self.events.get(payment.event_id)
        try:
            hold = await self._hold_for(event, payment)
        except CheckoutInProgress:
            return "checkout_running"  # the fan's own checkout finishes it
        except OnsaleError:
            await self.cancel(payment, notices.HOLD_GONE)
            return "cancelled"
        quote = policy.quote(event.spec, hold.section, hold.seats, hold.quantity)
        if not intent_fits(intent, payment, quote):
            await self.service._release_after_refusal(event.id, hold.hold_id)
            await self.cancel(payment, notices.REFUSED)
            return "cancelled"
        await payment_repo.payment_set(engine, payment.id, "authorized")
        buyer = policy.Buyer(payment.buyer_email or "", payment.buyer_name or "")
        try:
            await self.service._complete(
                event,
                hold,
                buyer,
                quote,
                payment.id,
                channel="online",
                idem=None,
                per_buyer=event.spec.limits.per_buyer,
            )
        except (Conflict, ValidationFailed):
            # _complete voided the payment; the fan is told.
            await self._notify(payment, notices.REFUSED)
            return "cancelled"
        return "order_written"

    async def _hold_for(self, event: Event, payment: Payment) -> Hold:
        """The payment's hold, claimed for the webhook; or, when it ran out,
        a new hold on the same places if they are still free. Raises
        CheckoutInProgress, SeatsUnavailable, and what holding raises."""
        assert payment.hold_id is not None
        try:
            return await self.service.inventory.begin_checkout(
                event.id,
                payment.hold_id,
                payment.queue_entry or "",
                self.service.settings.checkout_grace_seconds * 1000,
                claim=f"webhook:{payment.id}",
            )
        except (HoldExpired, NotFound):
            pass
        places = await payment_repo.get_places(self.service.engine, payment.id)
        if places is None:
            raise HoldExpired()
        section, seats, quantity = places
        request = HoldRequest("seats" if seats else "ga", section, quantity, seats)
        inventory = self.service.inventory
        hold = await inventory.hold(event.id, new_hold_id(), "", request, boxoffice=True)
        grace_ms = self.service.settings.checkout_grace_seconds * 1000
        return await inventory.begin_checkout(event.id, hold.hold_id, "", grace_ms)

    async def cancel(self, payment: Payment, reason: str) -> bool:
        """Cancel a payment no order was written for, and tell the buyer.
        False when Stripe could not cancel now (the reconciler retries)."""
        assert payment.provider_ref is not None
        try:
            await self.provider.void(payment.provider_ref, account=payment.account)
        except PaymentError:
            log.warning("cancelling failed; retried later", extra={"payment_id": payment.id})
            return False
        await payment_repo.payment_set(self.service.engine, payment.id, "voided")
        await self._notify(payment, reason)
        return True

    async def _notify(self, payment: Payment, reason: str) -> None:
        await notices.notify_payment_cancelled(
            self.service.engine,
            payment_id=payment.id,
            venue_id=payment.venue_id,
            event_id=payment.event_id,
            buyer_email=payment.buyer_email,
            reason=reason,
        )

    # ---------------------------------------------------------- the reconciler

    async def reconcile_orphan(self, payment: Payment) -> int:
        """An orphan Stripe payment (no order, silent for the orphan delay):
        cancelled at Stripe if it was authorized (the buyer told), or if it
        was never confirmed for an hour. 1 if it was cancelled, else 0."""
        if payment.provider_ref is None:  # Stripe never heard of it
            await payment_repo.payment_set(self.service.engine, payment.id, "voided")
            return 1
        try:
            intent = await self.provider.retrieve(payment.account, payment.provider_ref)
        except PaymentError as exc:
            log.warning("stripe orphan not read: %s", exc, extra={"payment_id": payment.id})
            return 0
        if intent.status == "canceled":
            await payment_repo.payment_set(self.service.engine, payment.id, "voided")
            return 1
        if intent.status == AUTHORIZED and payment.status == "pending":
            # Authorized at Stripe since onsale last looked (the fan is
            # probably checking out this very second, or the webhook is on
            # its way): the orphan delay starts now, not at the intent's creation.
            await payment_repo.payment_set(self.service.engine, payment.id, "authorized")
            return 0
        if intent.status == AUTHORIZED:
            return int(await self.cancel(payment, notices.NOT_COMPLETED))
        age = datetime.now(UTC) - (payment.updated_at or datetime.now(UTC))
        if intent.status in CANCELLABLE and age > UNCONFIRMED_AFTER:
            try:
                await self.provider.void(payment.provider_ref, account=payment.account)
            except PaymentError:
                return 0
            await payment_repo.payment_set(self.service.engine, payment.id, "voided")
            return 1
        return 0
