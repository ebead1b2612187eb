"""HTTP edge of a venue's payment account (API.md, "Payments through
Stripe"): connect it, read what it shows (never a secret)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.admin.access import require
from onsale.admin.roles import Action
from onsale.http import JSON, read_json, runtime_of
from onsale.payments.accounts import account_json, parse_account


async def put_account(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.PAYMENT_ACCOUNT)
    form = parse_account(await read_json(request, rt.settings.max_body_bytes))
    return JSON(await rt.payment_accounts.connect(caller.venue_id, form, actor=caller.actor))


async def get_account(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.PAYMENT_ACCOUNT)
    return JSON(
        account_json(caller.venue_id, await rt.payment_accounts.publishable_key(caller.venue_id))
    )


routes = [
    Route("/api/admin/payment-account", put_account, methods=["PUT"]),
    Route("/api/admin/payment-account", get_account, methods=["GET"]),
]
