"""Identifiers and the audit log shared by every domain that writes to Postgres."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from onsale.schema import audit_log


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


async def audit(
    conn: AsyncConnection,
    *,
    venue_id: str | None,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        audit_log.insert().values(
            venue_id=venue_id,
            actor=actor,
            action=action,
            target=target,
            details=details or {},
        )
    )
