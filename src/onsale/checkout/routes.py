"""HTTP edge of checkout: paying for a hold (with a Stripe PaymentIntent
first where the venue takes Stripe), Stripe's webhooks, and reading an order."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.checkout import repo
from onsale.checkout.orders import order_json
from onsale.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    ValidationFailed,
)
from onsale.events.policy import Event
from onsale.http import JSON, path_param, read_json, runtime_of, token_of

log = logging.getLogger(__name__)

KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key", "")
    if not KEY_RE.match(key):
        raise ValidationFailed(
            "An Idempotency-Key header of 8-128 characters is required",
            fields={"Idempotency-Key": "8-128 of A-Z a-z 0-9 _ . : -"},
        )
    return key


async def start_payment(request: Request) -> Response:
    rt = runtime_of(request)
    claims = rt.signer.access(token_of(request), None, time.time())
    key = _idempotency_key(request)
    body = await read_json(request, rt.settings.max_body_bytes)
    event = await rt.events.get(claims.event_id)
    assert rt.checkout.stripe is not None
    answer = await rt.checkout.stripe.start_payment(
        event, path_param(request, "hold_id"), claims.subject, key, body
    )
    return JSON(answer, status_code=201)


async def stripe_webhook(request: Request) -> Response:
    rt = runtime_of(request)
    venue_id = path_param(request, "venue_id")
    payload = b""
    async for chunk in request.stream():
        payload += chunk
        if len(payload) > rt.settings.max_body_bytes:
            raise PayloadTooLarge()
    if rt.checkout.stripe is None:
        raise InvalidRequest("Stripe is not available here")
    outcome = await rt.checkout.stripe.webhook(
        venue_id, payload, request.headers.get("stripe-signature")
    )
    return JSON({"received": True, "outcome": outcome})


async def checkout(request: Request) -> Response:
    rt = runtime_of(request)
    claims = rt.signer.access(token_of(request), None, time.time())
    key = _idempotency_key(request)
    body = await read_json(request, rt.settings.max_body_bytes)
    event = await rt.events.get(claims.event_id)
    outcome = await rt.checkout.checkout(
        event, path_param(request, "hold_id"), claims.subject, key, body
    )
    if outcome.status_code in (200, 201) and isinstance(body.get("consent"), dict):
        await _record_consent(request, event, outcome.body, body)
    return JSON(outcome.body, status_code=outcome.status_code)


async def _record_consent(request: Request, event: Event, order: Any, body: Any) -> None:
    """The fan's marketing consent, after the order is paid: a failure here
    must not turn a paid order into an error (the fan can opt in later)."""
    try:
        await runtime_of(request).buyers.record_consent(event, order, body)
    except Exception:
        log.exception("could not record a consent", extra={"event_id": event.id})


async def get_order(request: Request) -> Response:
    rt = runtime_of(request)
    order_id = path_param(request, "order_id")
    token = token_of(request)
    if token is None:
        raise Unauthorized("The order token is required")
    claims = rt.signer.verify(token, kind="order", event_id=None, now=time.time())
    if claims.subject != order_id:
        raise Forbidden("This token is for another order")
    order = await repo.get_order(rt.engine, order_id)
    if order is None:
        raise NotFound("No such order")
    return JSON(order_json(order))


routes = [
    Route("/api/holds/{hold_id}/checkout", checkout, methods=["POST"]),
    Route("/api/holds/{hold_id}/payment", start_payment, methods=["POST"]),
    Route("/api/webhooks/stripe/{venue_id}", stripe_webhook, methods=["POST"]),
    Route("/api/orders/{order_id}", get_order, methods=["GET"]),
]
