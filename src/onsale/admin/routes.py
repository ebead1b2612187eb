"""HTTP edge of platform and venue administration (API.md).

The platform token creates venues; a venue key sees and changes only its own
venue's events and orders (another venue's event answers 404), and only what
its role may (``admin.access.require`` with one ``roles.Action`` per route).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.admin.access import Caller, require, require_platform
from onsale.admin.audit_routes import routes as audit_routes
from onsale.admin.buyers import routes as buyer_routes
from onsale.admin.export import orders_csv
from onsale.admin.key_routes import routes as key_routes
from onsale.admin.payment_routes import routes as payment_routes
from onsale.admin.platform import routes as platform_routes
from onsale.admin.roles import Action
from onsale.admin.staff import routes as staff_routes
from onsale.admin.stats import event_stats
from onsale.audit import record
from onsale.checkout.orders import order_json
from onsale.events.catalog import event_json
from onsale.events.policy import Event
from onsale.http import JSON, path_param, read_json, runtime_of
from onsale.inventory.service import hold_json


async def _venue_event(request: Request, action: Action) -> tuple[Caller, Event]:
    caller = await require(request, action)
    event = await runtime_of(request).events.get_for_venue(
        path_param(request, "event_id"), caller.venue_id
    )
    return caller, event


async def create_venue(request: Request) -> Response:
    rt = runtime_of(request)
    require_platform(request)
    body = await read_json(request, rt.settings.max_body_bytes)
    return JSON(await rt.venues.create_venue(body), status_code=201)


async def create_event(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.EVENT_WRITE)
    body = await read_json(request, rt.settings.max_body_bytes)
    event = await rt.events.create_event(caller.venue_id, body, caller.actor)
    return JSON(event_json(event), status_code=201)


async def list_events(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.READ)
    events = await rt.events.list_events(caller.venue_id)
    return JSON({"events": [event_json(e) for e in events]})


async def get_event(request: Request) -> Response:
    _, event = await _venue_event(request, Action.READ)
    return JSON(event_json(event))


async def patch_event(request: Request) -> Response:
    rt = runtime_of(request)
    caller, event = await _venue_event(request, Action.EVENT_WRITE)
    body = await read_json(request, rt.settings.max_body_bytes)
    updated = await rt.events.update_event(event.id, caller.venue_id, body, caller.actor)
    return JSON(event_json(updated))


async def stats(request: Request) -> Response:
    rt = runtime_of(request)
    _, event = await _venue_event(request, Action.READ)
    return JSON(await event_stats(event, inventory=rt.inventory, queue=rt.queue, orders=rt.orders))


def _wants_csv(request: Request) -> bool:
    return request.url.path.endswith(".csv") or "text/csv" in request.headers.get("accept", "")


async def orders(request: Request) -> Response:
    rt = runtime_of(request)
    # Reading the orders is the viewer's; taking them away as a file is an export.
    wants_csv = _wants_csv(request)
    caller, event = await _venue_event(request, Action.EXPORT if wants_csv else Action.READ)
    # Printable characters only: Postgres refuses a NUL in a LIKE pattern.
    search = "".join(c for c in request.query_params.get("q", "")[:100] if c.isprintable())
    rows = await rt.orders.of_event(event.id, search)
    if wants_csv:
        await record(
            rt.engine,
            venue_id=caller.venue_id,
            actor=caller.actor,
            action="orders.export",
            target=event.id,
            details={"orders": len(rows), "filtered": bool(search)},
        )
        return Response(
            orders_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="orders-{event.id}.csv"'},
        )
    return JSON({"orders": [order_json(o) for o in rows]})


async def boxoffice(request: Request) -> Response:
    rt = runtime_of(request)
    caller, event = await _venue_event(request, Action.BOXOFFICE)
    body = await read_json(request, rt.settings.max_body_bytes)
    # Validate the buyer and payment before taking any seat.
    from onsale.checkout.policy import parse_boxoffice

    parse_boxoffice(body, rt.providers)
    hold = await rt.inventory.hold(event, "", body, boxoffice=True)
    outcome = await rt.checkout.boxoffice(event, hold, body, actor=caller.actor.label)
    return JSON({**outcome.body, "hold": hold_json(hold)}, status_code=outcome.status_code)


async def refund_order(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.REFUND)
    order = await rt.orders.of_venue(path_param(request, "order_id"), caller.venue_id)
    return JSON(order_json(await rt.orders.refund(order, actor=caller.actor)))


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
    *staff_routes,
    *audit_routes,
    *buyer_routes,
    *platform_routes,
]
