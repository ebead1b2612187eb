"""Stripe as a payment provider: each venue's own account (``accounts``),
called through ``stripe_gateway``. Card numbers never reach onsale: the fan
page confirms the PaymentIntent with Stripe.js, so ``authorize`` refuses.
"""

from __future__ import annotations

from dataclasses import dataclass

from onsale.payments.accounts import Account, AccountStore
from onsale.payments.providers import Authorization, PaymentError
from onsale.payments.stripe_gateway import Intent, StripeGateway
from onsale.secretbox import SealedValueError

NAME = "stripe"


class NotConfigured(PaymentError):
    """The venue has no (working) Stripe account."""


@dataclass
class StripeProvider:
    gateway: StripeGateway
    accounts: AccountStore
    name: str = NAME

    async def account(self, venue_id: str) -> Account:
        """Raises NotConfigured."""
        try:
            account = await self.accounts.open(venue_id)
        except SealedValueError as exc:
            # Sealed under another server secret: the venue must connect again.
            raise NotConfigured("the payment account does not open") from exc
        if account is None:
            raise NotConfigured("no payment account")
        return account

    async def authorize(
        self, key: str, amount_cents: int, currency: str, card_number: str
    ) -> Authorization:
        raise PaymentError("Stripe payments are confirmed by Stripe.js, never with a card number")

    async def create_intent(
        self, venue_id: str, amount_cents: int, currency: str, metadata: dict[str, str], key: str
    ) -> tuple[Account, Intent]:
        """Raises NotConfigured, PaymentError."""
        account = await self.account(venue_id)
        intent = await self.gateway.create_intent(
            account.secret_key,
            amount_cents=amount_cents,
            currency=currency,
            metadata=metadata,
            idempotency_key=key,
        )
        return account, intent

    async def retrieve(self, venue_id: str, intent_id: str) -> Intent:
        """Raises NotConfigured, UnknownIntent, PaymentError."""
        account = await self.account(venue_id)
        return await self.gateway.retrieve(account.secret_key, intent_id)

    async def capture(self, ref: str, *, account: str = "") -> None:
        await self.gateway.capture((await self.account(account)).secret_key, ref)

    async def void(self, ref: str, *, account: str = "") -> None:
        await self.gateway.cancel((await self.account(account)).secret_key, ref)

    async def refund(self, ref: str, amount_cents: int, *, account: str = "") -> None:
        await self.gateway.refund((await self.account(account)).secret_key, ref, amount_cents)
