"""HTTP edge of a venue's payment account (API.md, "Payments through
Stripe"): connect it, read what it shows (never a secret)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.admin.key_routes import caller_key
from onsale.http import JSON, read_json, runtime_of
from onsale.payments.accounts import ACTION, account_json, parse_account


async def _venue(request: Request, action: str) -> str:
    """The caller's venue, for ``action`` (the role check names it: only a
    manager may connect the payment account)."""
    del action  # every working venue key may, until roles come
    return (await caller_key(request)).venue_id


async def put_account(request: Request) -> Response:
    rt = runtime_of(request)
    venue_id = await _venue(request, ACTION)
    form = parse_account(await read_json(request, rt.settings.max_body_bytes))
    return JSON(await rt.payment_accounts.connect(venue_id, form, actor=f"venue:{venue_id}"))


async def get_account(request: Request) -> Response:
    rt = runtime_of(request)
    venue_id = await _venue(request, ACTION)
    return JSON(account_json(venue_id, await rt.payment_accounts.publishable_key(venue_id)))


routes = [
    Route("/api/admin/payment-account", put_account, methods=["PUT"]),
    Route("/api/admin/payment-account", get_account, methods=["GET"]),
]
