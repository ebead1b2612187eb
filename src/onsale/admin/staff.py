"""HTTP edge of the venue's staff: who am I, and (managers) create, list and
revoke staff. A revoked staff key is refused on its next request by every
process (no process caches a key: ``admin.key_service``)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.admin import repo, staff_repo
from onsale.admin.access import require
from onsale.admin.roles import Action, actions_of, parse_staff
from onsale.http import JSON, path_param, read_json, runtime_of


async def me(request: Request) -> Response:
    """The caller's venue, role and what it may do: the page shows only that."""
    rt = runtime_of(request)
    caller = await require(request, Action.WHO_AM_I)
    return JSON(
        {
            "venue": await repo.venue_of(rt.engine, caller.venue_id),
            "role": caller.role,
            "staff_id": caller.key.staff_id,
            "staff_email": caller.key.staff_email,
            "key_id": caller.key.key_id,
            "actions": actions_of(caller.role),
        }
    )


async def create_staff(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.STAFF)
    email, role = parse_staff(await read_json(request, rt.settings.max_body_bytes))
    made = await staff_repo.create_staff(rt.engine, caller.venue_id, email, role, caller.actor)
    return JSON(made, status_code=201)


async def list_staff(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.STAFF)
    people = await staff_repo.list_staff(rt.engine, caller.venue_id, datetime.now(UTC))
    return JSON({"staff": people})


async def revoke_staff(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.STAFF)
    staff_id = path_param(request, "staff_id")
    await staff_repo.revoke_staff(
        rt.engine, caller.venue_id, staff_id, datetime.now(UTC), caller.actor
    )
    return Response(status_code=204)


routes = [
    Route("/api/admin/me", me, methods=["GET"]),
    Route("/api/admin/staff", create_staff, methods=["POST"]),
    Route("/api/admin/staff", list_staff, methods=["GET"]),
    Route("/api/admin/staff/{staff_id}", revoke_staff, methods=["DELETE"]),
]
