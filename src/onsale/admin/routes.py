"""HTTP edge of platform and venue administration (API.md).

The platform token creates venues; a venue key sees and changes only its own
venue's events and orders (another venue's event answers 404).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.admin.export import orders_csv
from onsale.admin.key_routes import caller_key
from onsale.admin.key_routes import routes as key_routes
from onsale.admin.payment_routes import routes as payment_routes
from onsale.admin.stats import event_stats
from onsale.checkout.orders import order_json
from onsale.errors import Unauthorized
from onsale.events.catalog import event_json
from onsale.events.policy import Event
from onsale.http import JSON, path_param, read_json, runtime_of, same_secret, token_of
from onsale.inventory.service import hold_json


async def _venue(request: Request) -> str:
    return (await caller_key(request)).venue_id


async def _venue_event(request: Request) -> tuple[str, Event]:
    venue_id = await _venue(request)
    event = await runtime_of(request).events.get_for_venue(
        path_param(request, "event_id"), venue_id
    )
    return venue_id, event


async def create_venue(request: Request) -> Response:
    rt = runtime_of(request)
    if not same_secret(token_of(request), rt.settings.admin_token.reveal()):
        raise Unauthorized("The platform token is required")
    body = await read_json(request, rt.settings.max_body_bytes)
    return JSON(await rt.venues.create_venue(body), status_code=201)


async def create_event(request: Request) -> Response:
    rt = runtime_of(request)
    venue_id = await _venue(request)
    body = await read_json(request, rt.settings.max_body_bytes)
    event = await rt.events.create_event(venue_id, body)
    return JSON(event_json(event), status_code=201)


async def list_events(request: Request) -> Response:
    rt = runtime_of(request)
    events = await rt.events.list_events(await _venue(request))
    return JSON({"events": [event_json(e) for e in events]})


async def get_event(request: Request) -> Response:
    _, event = await _venue_event(request)
    return JSON(event_json(event))


async def patch_event(request: Request) -> Response:
    rt = runtime_of(request)
    venue_id, event = await _venue_event(request)
    body = await read_json(request, rt.settings.max_body_bytes)
    return JSON(event_json(await rt.events.update_event(event.id, venue_id, body)))


async def stats(request: Request) -> Response:
    rt = runtime_of(request)
    _, event = await _venue_event(request)
    return JSON(await event_stats(event, inventory=rt.inventory, queue=rt.queue, orders=rt.orders))


async def orders(request: Request) -> Response:
    rt = runtime_of(request)
    _, event = await _venue_event(request)
    # Printable characters only: Postgres refuses a NUL in a LIKE pattern.
    search = "".join(c for c in request.query_params.get("q", "")[:100] if c.isprintable())
    rows = await rt.orders.of_event(event.id, search)
    wants_csv = request.url.path.endswith(".csv") or "text/csv" in request.headers.get("accept", "")
    if wants_csv:
        return Response(
            orders_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="orders-{event.id}.csv"'},
        )
    return JSON({"orders": [order_json(o) for o in rows]})


async def boxoffice(request: Request) -> Response:
    rt = runtime_of(request)
    venue_id, event = await _venue_event(request)
    body = await read_json(request, rt.settings.max_body_bytes)
    # Validate the buyer and payment before taking any seat.
    from onsale.checkout.policy import parse_boxoffice

    parse_boxoffice(body, rt.providers)
    hold = await rt.inventory.hold(event, "", body, boxoffice=True)
    outcome = await rt.checkout.boxoffice(event, hold, body, actor=f"venue:{venue_id}")
    return JSON({**outcome.body, "hold": hold_json(hold)}, status_code=outcome.status_code)


async def refund_order(request: Request) -> Response:
    rt = runtime_of(request)
    venue_id = await _venue(request)
    order = await rt.orders.of_venue(path_param(request, "order_id"), venue_id)
    return JSON(order_json(await rt.orders.refund(order, actor=f"venue:{venue_id}")))


routes = [
    Route("/api/admin/venues", create_venue, methods=["POST"]),
    Route("/api/admin/events", create_event, methods=["POST"]),
    Route("/api/admin/events", list_events, methods=["GET"]),
    Route("/api/admin/events/{event_id}", get_event, methods=["GET"]),
    Route("/api/admin/events/{event_id}", patch_event, methods=["PATCH"]),
    Route("/api/admin/events/{event_id}/stats", stats, methods=["GET"]),
    Route("/api/admin/events/{event_id}/orders", orders, methods=["GET"]),
    Route("/api/admin/events/{event_id}/orders.csv", orders, methods=["GET"]),
    Route("/api/admin/events/{event_id}/boxoffice", boxoffice, methods=["POST"]),
    Route("/api/admin/orders/{order_id}/refund", refund_order, methods=["POST"]),
    *key_routes,
    *payment_routes,
]
