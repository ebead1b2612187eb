"""HTTP edge of the inventory: public event info, the seat map, holds."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope

from onsale import tokens
from onsale.errors import Forbidden, Unauthorized
from onsale.events.policy import Event, spec_to_json
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
from onsale.runtime import Runtime


def access_claims(rt: Runtime, request: Request, event_id: str | None) -> tokens.Claims:
    """Claims of the access token in ``Authorization``. Raises Unauthorized,
    TokenExpired, Forbidden (another kind of token, or another event)."""
    return claims_of(rt, token_of(request), event_id)


def claims_of(rt: Runtime, token: str | None, event_id: str | None) -> tokens.Claims:
    """:func:`access_claims` of a token already taken from its header."""
    if token is None:
        raise Unauthorized("An access token is required: join the queue first")
    return tokens.verify(
        rt.settings.secret_key.reveal().encode(),
        token,
        kind="access",
        event_id=event_id,
        now=time.time(),
    )


async def public_event(rt: Runtime, event: Event) -> dict[str, Any]:
    counts = await rt.inventory.store.counts(event.id)
    ga = await rt.inventory.store.ga_counts(event.id)
    # From the seat map's reading of the states (onsale.inventory.seatmap).
    free_by_section = (
        await rt.inventory.seat_maps.free_by_section(event.id)
        if any(s.kind == "seated" for s in event.spec.sections)
        else {}
    )
    spec = event.spec
    sold_out = counts.ready and counts.capacity > 0 and counts.sold >= counts.capacity
    sections = []
    for s in spec.sections:
        if s.kind == "ga":
            g = ga.get(s.code, {})
            available = max(g.get("cap", s.capacity) - g.get("held", 0) - g.get("sold", 0), 0)
        else:
            available = free_by_section.get(s.code, 0)
        sections.append(
            {
                "code": s.code,
                "kind": s.kind,
                "category": s.category,
                "capacity": s.capacity,
                "available": available,
            }
        )
    public = spec_to_json(spec)
    return {
        "id": event.id,
        "name": spec.name,
        "starts_at": public["starts_at"],
        "status": event.status(datetime.now(UTC), sold_out=sold_out),
        "sale": public["sale"],
        "hold_seconds": spec.hold_seconds,
        "limits": public["limits"],
        "language": spec.language,
        "categories": public["categories"],
        "sections": sections,
    }


async def event_info(request: Request) -> Response:
    rt = runtime_of(request)
    event = await rt.events.get(path_param(request, "event_id"))
    return JSON(await public_event(rt, event))


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
    claims = claims_of(rt, token, event.id)
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
    claims = access_claims(rt, request, None)
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
