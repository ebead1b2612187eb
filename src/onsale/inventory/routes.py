"""HTTP edge of the inventory: public event info, the seat map, holds."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope

from onsale import tokens
from onsale.errors import Forbidden
from onsale.http import (
    JSON,
    HotRoute,
    checked_id,
    path_param,
    read_json,
    receive_json,
    render_json,
    runtime_of,
    token_of,
)
from onsale.inventory import seatmap
from onsale.inventory.service import hold_json

if TYPE_CHECKING:  # the runtime builds the services these edges call
    from onsale.runtime import Runtime


async def event_info(request: Request) -> Response:
    rt = runtime_of(request)
    event = await rt.events.get(path_param(request, "event_id"))
    body = await rt.inventory.public_event(event)
    # An extension of API.md: how the fan page pays this venue (Stripe.js
    # with the venue's publishable key), absent for the test provider.
    payments = await rt.payment_accounts.public_payments(event.venue_id)
    if payments:
        body["payments"] = payments
    return JSON(body)


async def seat_map(request: Request) -> Response:
    """The seat map, shared by the requests of a second and gzipped for the
    clients that accept it (see ``onsale.inventory.seatmap``)."""
    rt = runtime_of(request)
    event = await rt.events.get(path_param(request, "event_id"))
    section = seatmap.section_of(event, request.query_params.get("section"))
    maps = rt.inventory.seat_maps
    return seatmap.response(await maps.body(event, section), request.headers, maps.max_age)


async def create_hold(request: Request) -> Response:
    rt = runtime_of(request)
    hold = await _hold(
        rt,
        path_param(request, "event_id"),
        token_of(request),
        lambda: read_json(request, rt.settings.max_body_bytes),
    )
    return Response(hold, status_code=201, media_type="application/json")


async def create_hold_hot(
    scope: Scope, receive: Receive, params: dict[str, str]
) -> tuple[int, bytes]:
    """:func:`create_hold` as a hot route (``onsale.http.HotRoute``): the same
    answers, from the raw request."""
    rt: Runtime = scope["app"].state.runtime
    authorization = length = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"content-length" and length is None:
            length = value.decode("latin-1")
    hold = await _hold(
        rt,
        checked_id(params["event_id"]),
        tokens.bearer(authorization),
        lambda: receive_json(receive, length, rt.settings.max_body_bytes),
    )
    return 201, hold


async def _hold(
    rt: Runtime, event_id: str, token: str | None, read_body: Callable[[], Awaitable[object]]
) -> bytes:
    """The new hold's JSON. The checks run in this order (which error a bad
    request gets): the event, the token, the body, then the hold itself."""
    event = await rt.events.get(event_id)
    claims = rt.signer.access(token, event.id, time.time())
    body = await read_body()
    try:
        hold = await rt.inventory.hold(event, claims.subject, body)
    except Forbidden:
        # Redis may have lost the queue (a restart): the signed access token
        # still proves the admission, so the session comes back from it.
        if not await rt.queue.restore_session(event, claims):
            raise
        hold = await rt.inventory.hold(event, claims.subject, body)
    return render_json(hold_json(hold))


async def release_hold(request: Request) -> Response:
    rt = runtime_of(request)
    claims = rt.signer.access(token_of(request), None, time.time())
    await rt.inventory.release(claims.event_id, path_param(request, "hold_id"), claims.subject)
    return Response(status_code=204)


holds_route = Route("/api/events/{event_id}/holds", create_hold, methods=["POST"])

routes = [
    Route("/api/events/{event_id}", event_info, methods=["GET"]),
    Route("/api/events/{event_id}/seats", seat_map, methods=["GET"]),
    holds_route,
    Route("/api/holds/{hold_id}", release_hold, methods=["DELETE"]),
]

# Served by the app's middleware before the router: every fan of a sale after
# the same places sends these.
hot_routes = [HotRoute(holds_route, "POST", create_hold_hot)]
