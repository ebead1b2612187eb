"""HTTP edge of the buyers' data (managers only): a buyer's export and
erasure, the opted-in contacts, and the venue's consent and privacy
settings; plus the public side the fan page reads (the venue's consent
wording and privacy notice of an event)."""

from __future__ import annotations

import csv
import io

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.admin import venue_settings
from onsale.admin.access import require
from onsale.admin.buyer_service import parse_email
from onsale.admin.consent import privacy_link
from onsale.admin.roles import Action
from onsale.http import JSON, path_param, read_json, runtime_of


async def export_buyer(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.BUYERS)
    email = parse_email(request.query_params.get("email"))
    return JSON(await rt.buyers.export(caller.venue_id, email, caller.actor))


async def erase_buyer(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.BUYERS)
    body = await read_json(request, rt.settings.max_body_bytes)
    email = parse_email(body.get("email"))
    return JSON({"orders_anonymized": await rt.buyers.erase(caller.venue_id, email, caller.actor)})


async def opted_in(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.EXPORT)
    contacts = await rt.buyers.opted_in(caller.venue_id, caller.actor)
    if request.url.path.endswith(".csv"):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["email", "wording_version", "given_at"])
        for c in contacts:
            # A leading = + - @ would be a formula in a spreadsheet.
            email = c["email"] if c["email"][:1] not in "=+-@" else f"'{c['email']}"
            writer.writerow([email, c["wording_version"], c["given_at"]])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
    return JSON({"contacts": contacts})


async def get_settings(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.SETTINGS)
    return JSON(await venue_settings.load(rt.engine, caller.venue_id))


async def put_settings(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.SETTINGS)
    parsed = venue_settings.parse(await read_json(request, rt.settings.max_body_bytes))
    return JSON(await venue_settings.store(rt.engine, caller.venue_id, parsed, caller.actor))


async def event_privacy(request: Request) -> Response:
    """Public: the event's venue's consent question and privacy notice."""
    rt = runtime_of(request)
    event = await rt.events.get(path_param(request, "event_id"))
    settings = await venue_settings.load(rt.engine, event.venue_id)
    consent = settings["marketing_consent"]
    return JSON(
        {
            "marketing_consent": consent
            if consent["enabled"]
            else {"enabled": False, "version": consent["version"]},
            "privacy": {
                "contact_email": settings["privacy"]["contact_email"],
                "notice_url": privacy_link(str(request.base_url), event.venue_id),
            },
        }
    )


routes = [
    Route("/api/admin/buyers", export_buyer, methods=["GET"]),
    Route("/api/admin/buyers/erase", erase_buyer, methods=["POST"]),
    Route("/api/admin/consents", opted_in, methods=["GET"]),
    Route("/api/admin/consents.csv", opted_in, methods=["GET"]),
    Route("/api/admin/venue-settings", get_settings, methods=["GET"]),
    Route("/api/admin/venue-settings", put_settings, methods=["PUT"]),
    Route("/api/events/{event_id}/privacy", event_privacy, methods=["GET"]),
]
