"""HTTP edge of the audit log: a manager reads their venue's, newest first,
a page at a time (``?before=<id>&limit=N``; ``next_before`` names the next
page). Rows hold ids, roles, counts and addresses, never a buyer's data."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.admin.access import require
from onsale.admin.key_policy import iso
from onsale.admin.roles import Action
from onsale.errors import ValidationFailed
from onsale.http import JSON, runtime_of
from onsale.monitoring import timing
from onsale.schema import audit_log

MAX_PAGE = 200


def _page_args(request: Request) -> tuple[int | None, int]:
    """(before, limit) of the query. Raises ValidationFailed."""
    before_raw = request.query_params.get("before")
    limit_raw = request.query_params.get("limit", "50")
    errors: dict[str, str] = {}
    before = None
    if before_raw is not None:
        if not before_raw.isdecimal() or len(before_raw) > 18:
            errors["before"] = "an entry id"
        else:
            before = int(before_raw)
    if not limit_raw.isdecimal() or not 1 <= int(limit_raw[:4]) <= MAX_PAGE:
        errors["limit"] = f"an integer between 1 and {MAX_PAGE}"
    if errors:
        raise ValidationFailed("Some fields are invalid", fields=errors)
    return before, int(limit_raw)


@timing.postgres
async def audit_page(
    engine: AsyncEngine, venue_id: str, before: int | None, limit: int
) -> list[Any]:
    """The venue's rows older than ``before``, newest first."""
    query = sa.select(audit_log).where(audit_log.c.venue_id == venue_id)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    async with engine.connect() as conn:
        return list((await conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit))).all())


def entry_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.created_at),
        "actor": row.actor,
        "role": row.actor_role,
        "action": row.action,
        "target": row.target,
        "address": row.address,
        "details": row.details,
    }


async def read_audit(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.AUDIT)
    before, limit = _page_args(request)
    rows = await audit_page(rt.engine, caller.venue_id, before, limit)
    entries = [entry_json(r) for r in rows]
    next_before = entries[-1]["id"] if len(entries) == limit else None
    return JSON({"entries": entries, "next_before": next_before})


routes = [Route("/api/admin/audit", read_audit, methods=["GET"])]
