"""Checkout step 5: bring Redis and the payment provider back in line with
Postgres after a crash, a Redis restart or a provider outage (I7).

Every repair is idempotent, so any number of processes may run it at once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.checkout import idempotency, payment_repo
from onsale.events.catalog import EventCatalog
from onsale.events.policy import Event
from onsale.monitoring import metrics, timing
from onsale.payments.providers import PaymentError, PaymentProvider

if TYPE_CHECKING:
    from onsale.checkout.stripe_checkout import StripeCheckout

log = logging.getLogger(__name__)


@dataclass
class Repairs:
    """What one pass repaired, by kind (a metric label and a log line each)."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, n: int = 1) -> None:
        if n:
            self.counts[kind] += n

    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Reconciler:
    events: EventCatalog
    engine: AsyncEngine
    # Brings one event's Redis state back in line with Postgres
    # (onsale.recovery.Recovery.repair).
    repair_event: Callable[[Event, Repairs, timedelta], Awaitable[None]]
    providers: dict[str, PaymentProvider]
    orphan_after: timedelta
    # A paid order younger than this may still be finishing its checkout
    # (steps 4 and the capture): the reconciler leaves it alone till then.
    settle_after: timedelta = timedelta(seconds=10)
    # Idempotency rows whose answer is not an order are deleted this long
    # after they were written (rows whose answer is an order stay).
    idempotency_keep: timedelta = timedelta(days=7)
    # Stripe's orphans are read at Stripe first (set by the runtime).
    stripe: StripeCheckout | None = None

    async def run_once(self, extra_events: list[Event] | None = None) -> Repairs:
        repairs = Repairs()
        try:
            events = {e.id: e for e in await self.events.live_events()}
            for e in extra_events or []:
                events[e.id] = e
            for event in events.values():
                await self.repair_event(event, repairs, self.settle_after)
            await self.payments(repairs)
        finally:  # a pass cut short by an outage still reports what it repaired
            for kind, n in repairs.counts.items():
                metrics.RECONCILER_REPAIRS.labels(kind).inc(n)
            if repairs.total():
                log.warning("reconciler repaired %s", dict(repairs.counts))
        return repairs

    async def payments(self, repairs: Repairs) -> None:
        """Void payments whose order was never written; capture those whose
        order was; forget checkout attempts that died half-way, and old
        answers that were not orders."""
        engine = self.engine
        for payment in await payment_repo.orphan_payments(engine, self.orphan_after):
            if payment.provider == "stripe" and self.stripe is not None:
                repairs.add("payment_voided", await self.stripe.reconcile_orphan(payment))
                continue
            if await self._call(payment, "void"):
                await payment_repo.payment_set(engine, payment.id, "voided")
                repairs.add("payment_voided")
        for payment in await payment_repo.uncaptured_paid(engine, self.settle_after):
            if await self._call(payment, "capture"):
                await payment_repo.payment_set(engine, payment.id, "captured")
                repairs.add("payment_captured")
        repairs.add(
            "stale_claim_dropped",
            await idempotency.forget_stale_claims(engine, self.orphan_after),
        )
        # Housekeeping, not a repair (no metric, no warning): rows age out.
        await idempotency.idem_expire(engine, self.idempotency_keep)

    async def _call(self, payment: payment_repo.Payment, op: str) -> bool:
        provider = self.providers.get(payment.provider)
        if provider is None or payment.provider_ref is None:
            return True  # nothing was charged (never authorized, or cash)
        try:
            with timing.timed(metrics.PAYMENT_CALL_SECONDS.labels(provider.name, op)):
                await getattr(provider, op)(payment.provider_ref, account=payment.account)
        except PaymentError as exc:
            log.warning("payment %s failed: %s", op, exc, extra={"payment_id": payment.id})
            return False
        return True
