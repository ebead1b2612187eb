"""HTTP edge of the platform operator's venue controls: suspend and resume.

The platform token creates, suspends and resumes venues and re-issues their
keys; it reads no orders and no buyers (those routes take a venue key only).
A suspended venue's keys get 403 ``forbidden`` on every venue route, nobody
is admitted to its events and its events show ``closed`` (no hold is taken;
a fan already at the payment step may still finish within their hold). Its
data stays, and a resume brings everything back.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.admin import repo
from onsale.admin.access import require_platform
from onsale.admin.key_policy import iso
from onsale.http import JSON, path_param, runtime_of


async def _set_suspended(request: Request, suspend: bool) -> Response:
    rt = runtime_of(request)
    actor = require_platform(request)
    venue_id = path_param(request, "venue_id")
    when = await repo.set_suspended(
        rt.engine, venue_id, datetime.now(UTC) if suspend else None, actor
    )
    return JSON({"id": venue_id, "suspended": suspend, "suspended_at": iso(when)})


async def suspend(request: Request) -> Response:
    return await _set_suspended(request, True)


async def resume(request: Request) -> Response:
    return await _set_suspended(request, False)


routes = [
    Route("/api/admin/venues/{venue_id}/suspend", suspend, methods=["POST"]),
    Route("/api/admin/venues/{venue_id}/resume", resume, methods=["POST"]),
]
