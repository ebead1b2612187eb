"""Stripe's API, for one venue's account at a time, through the official
``stripe`` library's async client (``*_async`` methods over httpx: nothing
blocks the event loop).

Every operation is safe to repeat: creating a PaymentIntent and refunding
carry an idempotency key; capture and cancel first read the PaymentIntent and
do nothing when it is already where they would move it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import stripe

from onsale.payments.providers import PaymentError

log = logging.getLogger(__name__)

# A PaymentIntent's states that can still be cancelled (nothing was captured).
CANCELLABLE = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)
AUTHORIZED = "requires_capture"


@dataclass(frozen=True)
class Intent:
    """What onsale reads of a PaymentIntent."""

    id: str
    status: str
    amount: int
    currency: str  # upper case, as onsale writes currencies
    metadata: dict[str, str]
    client_secret: str


def _intent(obj: Any) -> Intent:
    raw = obj.to_dict()  # a StripeObject answers .get as a field name
    metadata = raw.get("metadata") or {}
    return Intent(
        id=str(raw["id"]),
        status=str(raw["status"]),
        amount=int(raw["amount"]),
        currency=str(raw["currency"]).upper(),
        metadata={str(k): str(v) for k, v in dict(metadata).items()},
        client_secret=str(raw.get("client_secret") or ""),
    )


class AsyncHTTPClient(stripe.HTTPXClient):
    """stripe's httpx client, its form body sent as ``content=`` (the
    library passes bytes as ``data=``, which httpx deprecates)."""

    def _get_request_args_kwargs(  # type: ignore[no-untyped-def]
        self, method, url, headers, post_data
    ):
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        data = kwargs.pop("data", None)
        if isinstance(data, bytes | str):
            kwargs["content"] = data
        elif data:
            kwargs["data"] = data
        return args, kwargs


@dataclass
class StripeGateway:
    """Calls to Stripe with a venue's secret key; one httpx client for all."""

    api_base: str
    timeout_seconds: float = 10.0
    _http: stripe.HTTPXClient = field(init=False)

    def __post_init__(self) -> None:
        # Async only: a synchronous call would block the event loop.
        self._http = AsyncHTTPClient(timeout=self.timeout_seconds, allow_sync_methods=False)

    def _client(self, secret_key: str) -> stripe.StripeClient:
        return stripe.StripeClient(
            secret_key,
            base_addresses={"api": self.api_base},
            http_client=self._http,
            max_network_retries=1,
        )

    async def create_intent(
        self,
        secret_key: str,
        *,
        amount_cents: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Intent:
        """A PaymentIntent with manual capture. Raises PaymentError."""
        try:
            raw = await self._client(secret_key).v1.payment_intents.create_async(
                {
                    "amount": amount_cents,
                    "currency": currency.lower(),
                    "capture_method": "manual",
                    "metadata": metadata,
                },
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise PaymentError(f"stripe refused the payment intent: {exc.code}") from exc
        return _intent(raw)

    async def retrieve(self, secret_key: str, intent_id: str) -> Intent:
        """Raises PaymentError (unknown intent included)."""
        try:
            raw = await self._client(secret_key).v1.payment_intents.retrieve_async(intent_id)
        except stripe.InvalidRequestError as exc:
            raise UnknownIntent(intent_id) from exc
        except stripe.StripeError as exc:
            raise PaymentError(f"stripe could not read the payment intent: {exc.code}") from exc
        return _intent(raw)

    async def capture(self, secret_key: str, intent_id: str) -> None:
        """Capture an authorized intent (already captured: nothing to do).
        Raises PaymentError when Stripe refuses (say the authorization lapsed)."""
        intent = await self.retrieve(secret_key, intent_id)
        if intent.status == "succeeded":
            return
        if intent.status != AUTHORIZED:
            raise PaymentError(f"cannot capture a payment intent in {intent.status}")
        try:
            await self._client(secret_key).v1.payment_intents.capture_async(intent_id)
        except stripe.StripeError as exc:
            raise PaymentError(f"stripe refused the capture: {exc.code}") from exc

    async def cancel(self, secret_key: str, intent_id: str) -> str:
        """Cancel an intent nothing was captured of; its status before (so
        the caller knows whether money had been authorized). Raises PaymentError."""
        intent = await self.retrieve(secret_key, intent_id)
        if intent.status == "canceled":
            return intent.status
        if intent.status not in CANCELLABLE:
            raise PaymentError(f"cannot cancel a payment intent in {intent.status}")
        try:
            await self._client(secret_key).v1.payment_intents.cancel_async(intent_id)
        except stripe.StripeError as exc:
            raise PaymentError(f"stripe refused the cancellation: {exc.code}") from exc
        return intent.status

    async def refund(self, secret_key: str, intent_id: str, amount_cents: int) -> None:
        """Refund a captured intent, once whatever the retries (the key is the
        intent's: one refund per payment). Raises PaymentError."""
        try:
            await self._client(secret_key).v1.refunds.create_async(
                {"payment_intent": intent_id, "amount": amount_cents},
                {"idempotency_key": f"refund:{intent_id}"},
            )
        except stripe.StripeError as exc:
            raise PaymentError(f"stripe refused the refund: {exc.code}") from exc

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]


class UnknownIntent(PaymentError):
    """No such PaymentIntent in this account."""
