"""localstripe (a stateful fake Stripe server that also serves a mock
Stripe.js) as a real process on a free port, and what a test does in
Stripe's place: confirming a PaymentIntent with a card as Stripe.js would,
and signing a webhook as Stripe does."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import stripe

from onsale.payments.stripe_gateway import AsyncHTTPClient
from tests.live_server import free_port

SECRET_KEY = "sk_test_venue0123456789"
PUBLISHABLE_KEY = "pk_test_venue0123456789"
WEBHOOK_SECRET = "whsec_test0123456789abcdef"
ACCOUNT = {
    "provider": "stripe",
    "secret_key": SECRET_KEY,
    "publishable_key": PUBLISHABLE_KEY,
    "webhook_secret": WEBHOOK_SECRET,
}
GOOD_CARD = "4242424242424242"
# localstripe declines charging these (4000000000000002 it declines only
# when a card is attached to a customer).
DECLINED_CARD = "4000000000000341"


@dataclass
class LocalStripe:
    proc: subprocess.Popen[bytes]
    url: str

    @property
    def js_url(self) -> str:
        return f"{self.url}/js.stripe.com/v3/"

    @asynccontextmanager
    async def api(self, secret_key: str = SECRET_KEY) -> AsyncIterator[stripe.StripeClient]:
        """A Stripe client on localstripe, its connections closed after."""
        http = AsyncHTTPClient(allow_sync_methods=False)
        try:
            yield stripe.StripeClient(
                secret_key, base_addresses={"api": self.url}, http_client=http
            )
        finally:
            await http.close_async()  # type: ignore[no-untyped-call]

    async def confirm(self, intent_id: str, card: str = GOOD_CARD) -> str:
        """What Stripe.js does with the fan's card: a PaymentMethod, then
        confirm. The intent's status afterwards."""
        async with self.api() as c:
            pm = await c.v1.payment_methods.create_async(
                {
                    "type": "card",
                    "card": {"number": card, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
                }
            )
            await c.v1.payment_intents.update_async(intent_id, {"payment_method": pm.id})
            # Declined: the intent goes back to requires_payment_method.
            with contextlib.suppress(stripe.CardError):
                await c.v1.payment_intents.confirm_async(intent_id)
        return await self.status(intent_id)

    async def create_intent(self, params: Any) -> Any:
        async with self.api() as c:
            return await c.v1.payment_intents.create_async(params)

    async def intent(self, intent_id: str) -> Any:
        async with self.api() as c:
            return await c.v1.payment_intents.retrieve_async(intent_id)

    async def status(self, intent_id: str) -> str:
        return str((await self.intent(intent_id)).status)

    async def refunds(self, intent_id: str) -> list[Any]:
        async with self.api() as c:
            listed = await c.v1.refunds.list_async({"payment_intent": intent_id})
        return list(listed.data)


def signed(
    event_type: str,
    obj: dict[str, Any],
    *,
    secret: str = WEBHOOK_SECRET,
    event_id: str | None = None,
    at: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A webhook body and headers as Stripe sends them (``t=..,v1=..``)."""
    t = int(time.time()) if at is None else at
    payload = json.dumps(
        {
            "id": event_id or f"evt_{secrets.token_hex(8)}",
            "object": "event",
            "type": event_type,
            "created": t,
            "data": {"object": obj},
        }
    ).encode()
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, {"Stripe-Signature": f"t={t},v1={mac}", "Content-Type": "application/json"}


def _wait(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"localstripe exited with {proc.returncode}")
        try:
            httpx.get(f"{url}/js.stripe.com/v3/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("localstripe did not start")


def localstripe_command() -> list[str]:
    found = shutil.which("localstripe") or str(Path(sys.executable).parent / "localstripe")
    return [found]


@contextmanager
def running() -> Iterator[LocalStripe]:
    """A fresh localstripe (``--from-scratch``: nothing of an earlier run)."""
    port = free_port()
    proc = subprocess.Popen(
        [*localstripe_command(), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(proc, url)
        yield LocalStripe(proc, url)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
