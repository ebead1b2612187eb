"""Checkout: a hold becomes a paid order, in the five steps of DESIGN.md.

1. ``begin_checkout`` (Lua) moves the hold into checkout, extends its life and
   claims it for this attempt: a parallel attempt with another idempotency key
   gets 409 ``checkout_in_progress`` and never reaches the payment provider;
   after five declined payments on one hold, 429 ``rate_limited``;
2. the payment provider authorizes, keyed by the idempotency key;
3. one Postgres transaction writes the order, its tickets and the idempotent
   answer; Postgres refuses a second live ticket for a seat, a second order
   for a hold and a section over capacity even when Redis was wrong;
4. ``commit_sold`` (Lua, idempotent) marks the seats sold;
5. the reconciler replays step 4 (and voids orphan payments) after a crash.

(Just over 450 lines: the five steps and their failure paths are read
together; the orders after the sale live in ``orders.py``, Stripe's checkout
in ``stripe_checkout.py``, the order transaction in ``repo.py`` and
``hot_rows.py``. A further split would cut a step from its error handling.)

The idempotency record is written only after step 1 accepted the hold as the
caller's: a request naming a hold that never was, or someone else's, is
answered without storing anything.

Order tokens live until 30 days after the event starts, and at least a day
(``policy.order_token_expiry``): the order page is what the fan shows at the
door, so the token must outlive the show, but not by a year.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onsale import faults, tokens
from onsale.checkout import idempotency, payment_repo, policy, repo
from onsale.errors import (
    Conflict,
    HoldExpired,
    NotFound,
    OnsaleError,
    PaymentDeclined,
    Unavailable,
    ValidationFailed,
)
from onsale.events.policy import Event
from onsale.faults import Faults
from onsale.inventory.store import Hold, InventoryStore, Sale
from onsale.monitoring import logs, metrics, timing
from onsale.payments.providers import PaymentError, PaymentProvider
from onsale.settings import Settings
from onsale.tickets.issuer import TicketIssuer

if TYPE_CHECKING:
    from onsale.checkout.stripe_checkout import StripeCheckout

log = logging.getLogger(__name__)

STALE_ATTEMPT = timedelta(seconds=30)
# Declined payments allowed on one hold before any further attempt is refused
# (429) until the hold expires: enough for typos, too few for card testing.
MAX_DECLINES = 5


@dataclass(frozen=True)
class Outcome:
    status_code: int
    body: dict[str, Any]


def _replay(stored: idempotency.Stored) -> Outcome:
    return Outcome(200 if stored.status_code == 201 else stored.status_code, stored.response)


@dataclass
class CheckoutService:
    engine: AsyncEngine
    inventory: InventoryStore
    providers: dict[str, PaymentProvider]
    settings: Settings
    signer: tokens.Signer
    # Test switches (negative controls): the exclusive claim of step 1, and
    # the limit of declines per hold (0: none).
    exclusive_checkout: bool = True
    max_declines: int = MAX_DECLINES
    # Off only in the negative control of I2: GA tickets written without the
    # guarded counter in Postgres.
    guard_capacity: bool = True
    # Crash points a recovery test arms (onsale.faults); none in production.
    faults: Faults = field(default_factory=Faults)
    # Checkouts paid through Stripe (set by the runtime once both exist).
    stripe: StripeCheckout | None = None
    # Ticket codes, numbers and the e-mail row (tickets/); None: the
    # standard one on this engine and secret.
    issuer: TicketIssuer | None = None

    def __post_init__(self) -> None:
        self._idem_key = self.signer.derive(policy.IDEMPOTENCY_PURPOSE)
        self.tickets = self.issuer or TicketIssuer.build(self.engine, self.signer)

    def order_token(self, event: Event, order_id: str) -> str:
        now = datetime.now(UTC)
        expires = policy.order_token_expiry(event.spec.starts_at, now)
        claims = tokens.Claims("order", event.id, order_id, int(expires.timestamp()))
        return self.signer.sign(claims)

    async def checkout(
        self, event: Event, hold_id: str, entry: str, key: str, body: Any
    ) -> Outcome:
        """Pay for a hold. Same key and body again: the first answer (I3).

        Raises ValidationFailed, NotFound, IdempotencyConflict,
        CheckoutInProgress, HoldExpired, Forbidden, RateLimited,
        PaymentDeclined, SeatsUnavailable, LimitExceeded, Unavailable.
        """
        logs.bind_event(event.id)
        with timing.Outcome(metrics.CHECKOUT_SECONDS) as observed:
            outcome = await self._checkout(event, hold_id, entry, key, body)
            observed.outcome = outcome_code(outcome)
        return outcome

    async def _checkout(
        self, event: Event, hold_id: str, entry: str, key: str, body: Any
    ) -> Outcome:
        buyer, card = policy.parse_checkout(body, self.providers)
        scope = f"checkout:{hold_id}"
        req_hash = policy.request_hash(self._idem_key, scope, body)
        stored = await idempotency.idem_peek(
            self.engine, scope, key, req_hash, stale_after=STALE_ATTEMPT
        )
        if stored is not None:
            return _replay(stored)
        try:
            hold = await self._begin(event, hold_id, entry, key)
        except (HoldExpired, NotFound) as exc:
            return await self._hold_gone(exc, event, hold_id, card, (scope, key, req_hash))
        try:
            stored = await idempotency.idem_begin(
                self.engine, scope, key, req_hash, stale_after=STALE_ATTEMPT
            )
        except Exception as exc:
            if not isinstance(exc, Conflict):  # a conflict: the claim is another's too
                await self._back_to_held(event.id, hold_id)
            raise
        if stored is not None:  # the same request finished meanwhile
            if stored.status_code != 201:  # (an order: its hold is sold, leave it be)
                await self._back_to_held(event.id, hold_id)
            return _replay(stored)
        try:
            return await self._run(event, hold, key, buyer, card, scope)
        except (Conflict, PaymentDeclined) as exc:
            # A final answer: the same request again gets the same answer.
            await idempotency.idem_store(self.engine, scope, key, exc.status, exc.body())
            raise
        except faults.InjectedCrash:
            raise  # a killed process runs nothing more: the claim stays, as it would
        except BaseException:
            # Not an answer to keep (a backend down, a bug): free the key so
            # that a retry runs afresh.
            await self._forget(scope, key)
            raise

    async def _hold_gone(
        self,
        exc: HoldExpired | NotFound,
        event: Event,
        hold_id: str,
        card: policy.Card,
        request: tuple[str, str, str],
    ) -> Outcome:
        """The answer when step 1 found no live hold: the same request's if
        it finished since the peek, the order a Stripe webhook wrote for this
        payment, else ``exc`` (as "paid" when another checkout paid)."""
        scope, key, req_hash = request
        stored = await idempotency.idem_peek(
            self.engine, scope, key, req_hash, stale_after=STALE_ATTEMPT
        )
        if stored is not None:
            return _replay(stored)
        if card.provider == "stripe" and self.stripe is not None:
            found = await self.stripe.order_of(event, hold_id, card.ref)
            if found is not None:
                return found
        if isinstance(exc, HoldExpired) and await repo.hold_paid(self.engine, event.id, hold_id):
            # Another checkout of it (a double click, another key) paid.
            raise HoldExpired("This hold has been paid for", reason="paid") from exc
        raise exc

    async def _begin(self, event: Event, hold_id: str, entry: str, key: str) -> Hold:
        """Step 1. Raises what ``InventoryStore.begin_checkout`` raises."""
        return await self.inventory.begin_checkout(
            event.id,
            hold_id,
            entry,
            self.settings.checkout_grace_seconds * 1000,
            claim=key if self.exclusive_checkout else "",
            max_declines=self.max_declines,
        )

    async def _forget(self, scope: str, key: str) -> None:
        try:
            await idempotency.idem_forget(self.engine, scope, key)
        except Exception:  # Postgres may be the thing that is down
            log.warning("could not drop the idempotency claim", extra={"key_scope": scope})

    async def _run(
        self,
        event: Event,
        hold: Hold,
        key: str,
        buyer: policy.Buyer,
        card: policy.Card,
        scope: str,
    ) -> Outcome:
        quote = policy.quote(event.spec, hold.section, hold.seats, hold.quantity)
        known: Known | None = None
        if card.provider == "stripe" and self.stripe is not None:
            payment = await self.stripe.verify(event, hold, card.ref, quote)
        else:
            payment, known = await self._authorize(event, hold, key, card, quote)
        return await self._complete(
            event,
            hold,
            buyer,
            quote,
            payment,
            channel="online",
            idem=(scope, key),
            per_buyer=event.spec.limits.per_buyer,
            known=known,
        )

    async def _authorize(
        self, event: Event, hold: Hold, key: str, card: policy.Card, quote: policy.Quote
    ) -> tuple[str, Known | None]:
        """Step 2. The payment id of an authorized payment, with its provider
        and reference when this call authorized it (no read to capture it).

        Raises PaymentDeclined (the hold goes back to plain held) or
        Unavailable when the provider cannot be reached.
        """
        provider = self.providers[card.provider]
        try:
            payment_id, created = await payment_repo.reuse_or_create(
                self.engine,
                event_id=event.id,
                hold_id=hold.hold_id,
                provider=provider.name,
                key=key,
                amount_cents=quote.total_cents,
                currency=quote.currency,
                last4=card.last4,
            )
            if not created:  # an earlier attempt's authorization (I3)
                return payment_id, None
        except Exception:
            # Nothing was charged (Postgres away): end this attempt's claim so
            # that a retry with any key is not kept waiting for its grace.
            await self._back_to_held(event.id, hold.hold_id)
            raise
        try:
            with timing.timed(metrics.PAYMENT_CALL_SECONDS.labels(provider.name, "authorize")):
                auth = await provider.authorize(
                    payment_id, quote.total_cents, quote.currency, card.number
                )
        except PaymentError as exc:
            await self.inventory.abort_checkout(event.id, hold.hold_id)
            raise Unavailable("The payment provider did not answer") from exc
        if not auth.approved:
            await payment_repo.payment_set(self.engine, payment_id, "declined", ref=auth.ref)
            await self._back_to_held(event.id, hold.hold_id, declined=True)
            raise PaymentDeclined(reason=auth.decline_reason)
        await payment_repo.payment_set(self.engine, payment_id, "authorized", ref=auth.ref)
        self.faults.check(faults.AFTER_AUTHORIZE)
        return payment_id, Known(provider.name, auth.ref)

    async def _back_to_held(self, event_id: str, hold_id: str, *, declined: bool = False) -> None:
        with contextlib.suppress(OnsaleError):  # it ran out meanwhile: nothing to give back
            await self.inventory.abort_checkout(event_id, hold_id, declined=declined)

    async def _complete(
        self,
        event: Event,
        hold: Hold,
        buyer: policy.Buyer,
        quote: policy.Quote,
        payment_id: str,
        *,
        channel: str,
        idem: tuple[str, str] | None,
        per_buyer: int | None,
        known: Known | None = None,
    ) -> Outcome:
        """Steps 3 and 4, and the capture."""
        order_id = repo.new_id("ord")
        body = await self._order_body(event, order_id, quote)
        new = repo.NewOrder(
            order_id,
            event.id,
            event.venue_id,
            channel,
            buyer,
            quote,
            hold.hold_id,
            hold.entry or None,
            payment_id,
            per_buyer,
        )
        try:
            await repo.write_order(
                self.engine,
                new,
                idem=idem,
                response=body,
                issuer=self.tickets,
                guard_capacity=self.guard_capacity,
            )
        except HoldExpired:
            # Another checkout wrote this hold's order (its claim had lapsed):
            # the places are that order's now; only this payment goes.
            await self._void(payment_id, known)
            raise
        except (Conflict, ValidationFailed):
            await self._void(payment_id, known)
            await self._release_after_refusal(event.id, hold.hold_id)
            raise
        self.faults.check(faults.AFTER_ORDER_COMMIT)
        sale = Sale(hold.section, hold.seats, hold.quantity, hold.entry)
        try:
            await self.inventory.commit_sold(event.id, order_id, hold.hold_id, sale)
        except Exception:  # the reconciler replays step 4 (I7)
            log.exception(
                "commit_sold failed; the reconciler will replay it",
                extra={"event_id": event.id, "order_id": order_id},
            )
        await self._capture(payment_id, known)
        return Outcome(201, body)

    async def _order_body(self, event: Event, order_id: str, quote: policy.Quote) -> dict[str, Any]:
        ticket_ids = [repo.new_id("tkt") for _ in quote.lines]
        return {
            "order_id": order_id,
            "order_token": self.order_token(event, order_id),
            "status": "paid",
            "total_cents": quote.total_cents,
            "fees_cents": quote.fees_cents,
            "currency": quote.currency,
            "tickets": [
                {
                    "ticket_id": ticket_id,
                    "section": line.section,
                    "seat": line.seat,
                    "price_cents": line.price_cents,
                    "fee_cents": line.fee_cents,
                    "code": await self.tickets.code(event.venue_id, event.id, ticket_id),
                }
                for ticket_id, line in zip(ticket_ids, quote.lines, strict=True)
            ],
        }

    async def _provider_op(self, payment_id: str, op: str, known: Known | None) -> bool:
        if known is not None:  # authorized by this request: no read needed
            name, ref, account = known.provider, known.ref, ""
        else:
            payment = await payment_repo.get_payment(self.engine, payment_id)
            if payment is None or payment.provider_ref is None:
                return False
            name, ref, account = payment.provider, payment.provider_ref, payment.account
        provider = self.providers.get(name)
        if provider is None:  # cash at the counter: nobody to call
            return True
        try:
            with timing.timed(metrics.PAYMENT_CALL_SECONDS.labels(provider.name, op)):
                await getattr(provider, op)(ref, account=account)
        except PaymentError:
            log.warning(
                "payment %s failed; the reconciler retries", op, extra={"payment_id": payment_id}
            )
            return False
        return True

    async def _void(self, payment_id: str, known: Known | None = None) -> None:
        if await self._provider_op(payment_id, "void", known):
            await payment_repo.payment_set(self.engine, payment_id, "voided")

    async def _capture(self, payment_id: str, known: Known | None = None) -> None:
        if await self._provider_op(payment_id, "capture", known):
            await payment_repo.payment_set(self.engine, payment_id, "captured")

    async def _release_after_refusal(self, event_id: str, hold_id: str) -> None:
        try:
            await self.inventory.abort_checkout(event_id, hold_id)
            await self.inventory.release(event_id, hold_id, "")
        except OnsaleError:
            pass

    # ------------------------------------------------------------ box office

    async def boxoffice(self, event: Event, hold: Hold, body: Any, actor: str) -> Outcome:
        """Sell a box-office hold at once (no queue, no per-buyer limit; never
        around the inventory). Card payments go through the provider; cash is
        recorded as captured."""
        buyer, card = policy.parse_boxoffice(body, self.providers)
        quote = policy.quote(event.spec, hold.section, hold.seats, hold.quantity)
        try:
            grace_ms = self.settings.checkout_grace_seconds * 1000
            await self.inventory.begin_checkout(event.id, hold.hold_id, "", grace_ms)
            if card.provider in policy.COUNTER_PAYMENTS:
                payment_id = await payment_repo.payment_create(
                    self.engine,
                    event_id=event.id,
                    hold_id=hold.hold_id,
                    provider=card.provider,
                    key=f"boxoffice:{hold.hold_id}",
                    amount_cents=quote.total_cents,
                    currency=quote.currency,
                    last4="",
                )
                # Paid at the counter (cash, or the venue's own terminal,
                # with its reference): recorded as captured, nobody to call.
                ref = f"cash:{actor}" if card.provider == "cash" else f"terminal:{card.ref}"
                await payment_repo.payment_set(self.engine, payment_id, "captured", ref=ref)
            else:
                payment_id, _ = await self._authorize(
                    event, hold, f"boxoffice:{hold.hold_id}", card, quote
                )
            outcome = await self._complete(
                event,
                hold,
                buyer,
                quote,
                payment_id,
                channel="boxoffice",
                idem=None,
                per_buyer=None,
            )
        except OnsaleError:
            await self._release_after_refusal(event.id, hold.hold_id)
            raise
        return outcome


@dataclass(frozen=True)
class Known:
    """A payment this request authorized: whom to call and its reference,
    so that capturing (or voiding) it needs no read of its row. Its account
    is the provider's only one ("": ``payment_create`` sets no venue)."""

    provider: str
    ref: str


def outcome_code(outcome: Outcome) -> str:
    """``ok`` for an order, else the error code of a stored answer replayed."""
    if outcome.status_code < 400:
        return "ok"
    error = outcome.body.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else "internal_error"
