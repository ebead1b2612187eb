"""The venue's side of the door and the e-mails (venue key): door keys per
event, the door's live figures and double entries, and resending an order's
e-mail."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.admin.access import require
from onsale.admin.roles import Action
from onsale.errors import NotFound, ValidationFailed
from onsale.events.policy import Event, iso
from onsale.http import JSON, path_param, read_json, runtime_of
from onsale.tickets import door_repo, outbox
from onsale.tickets.door_repo import DoorKey

MAX_LABEL = 60


async def _venue_event(request: Request, action: Action) -> tuple[str, Event]:
    """The caller's venue, if its role may take ``action``, and its event of
    the path (another venue's: 404)."""
    venue_id = (await require(request, action)).venue_id
    event = await runtime_of(request).events.get_for_venue(
        path_param(request, "event_id"), venue_id
    )
    return venue_id, event


def key_json(key: DoorKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "event_id": key.event_id,
        "label": key.label,
        "created_at": iso(key.created_at),
        "revoked_at": iso(key.revoked_at) if key.revoked_at else None,
    }


async def create_door_key(request: Request) -> Response:
    rt = runtime_of(request)
    venue_id, event = await _venue_event(request, Action.DOOR_KEYS)
    body = await read_json(request, rt.settings.max_body_bytes)
    label = body.get("label", "door") if isinstance(body, dict) else None
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
        raise ValidationFailed("Some fields are invalid", fields={"label": "1-60 characters"})
    key, record = await door_repo.create_key(rt.engine, venue_id, event.id, label.strip())
    return JSON({"door_key": key, **key_json(record)}, status_code=201)


async def list_door_keys(request: Request) -> Response:
    rt = runtime_of(request)
    _, event = await _venue_event(request, Action.DOOR_KEYS)
    keys = await door_repo.list_keys(rt.engine, event.id)
    return JSON({"door_keys": [key_json(k) for k in keys]})


async def revoke_door_key(request: Request) -> Response:
    rt = runtime_of(request)
    _, event = await _venue_event(request, Action.DOOR_KEYS)
    if not await door_repo.revoke_key(rt.engine, event.id, path_param(request, "key_id")):
        raise NotFound("No such door key")
    return Response(status_code=204)


async def door_report(request: Request) -> Response:
    """Checked in per gate (nobody is scanned out, so everyone checked in
    counts as inside) and the double entries of offline scanners."""
    rt = runtime_of(request)
    _, event = await _venue_event(request, Action.READ)
    gates = await door_repo.by_gate(rt.engine, event.id)
    conflicts = await door_repo.conflicts(rt.engine, event.id)
    return JSON(
        {
            "checked_in": sum(gates.values()),
            "gates": [{"gate": g, "checked_in": n, "inside_now": n} for g, n in gates.items()],
            "conflicts": [
                {
                    "ticket_id": c["ticket_id"],
                    "number": c["number"],
                    "section": c["section"],
                    "seat": c["seat"],
                    "first": {"gate": c["first_gate"], "at": iso(c["first_at"])},
                    "again": {"gate": c["again_gate"], "at": iso(c["again_at"])},
                }
                for c in conflicts
            ],
        }
    )


async def resend(request: Request) -> Response:
    rt = runtime_of(request)
    venue_id = (await require(request, Action.RESEND_EMAIL)).venue_id
    order = await rt.orders.of_venue(path_param(request, "order_id"), venue_id)
    await outbox.resend(rt.engine, outbox.ORDER_TICKETS, venue_id, order.order_id)
    return JSON({"order_id": order.order_id, "status": "queued"}, status_code=202)


routes = [
    Route("/api/admin/events/{event_id}/door-keys", create_door_key, methods=["POST"]),
    Route("/api/admin/events/{event_id}/door-keys", list_door_keys, methods=["GET"]),
    Route("/api/admin/events/{event_id}/door-keys/{key_id}", revoke_door_key, methods=["DELETE"]),
    Route("/api/admin/events/{event_id}/door", door_report, methods=["GET"]),
    Route("/api/admin/orders/{order_id}/resend", resend, methods=["POST"]),
]
