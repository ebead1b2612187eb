"""Identifiers and the audit log shared by every domain that writes to Postgres.

An audit row says who (an :class:`Actor`: a key id or a staff id and its role,
never a secret), what, when and from which address. It never holds a buyer's
data: details carry ids, counts and amounts (an erasure is logged with its
order count, see ``admin.buyers``), so the log may outlive the buyers' data.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale.schema import audit_log


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


@dataclass(frozen=True)
class Actor:
    """Who acts: ``label`` is ``staff:<staff id>``, ``key:<key id>``,
    ``platform`` or ``system``; ``address`` is the client's address."""

    label: str
    role: str | None = None
    address: str | None = None


async def audit(
    conn: AsyncConnection,
    *,
    venue_id: str | None,
    actor: str | Actor,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    who = actor if isinstance(actor, Actor) else Actor(actor)
    await conn.execute(
        audit_log.insert().values(
            venue_id=venue_id,
            actor=who.label,
            actor_role=who.role,
            address=who.address,
            action=action,
            target=target,
            details=details or {},
        )
    )


async def record(engine: AsyncEngine, **row: Any) -> None:
    """One audit row in a transaction of its own: for an action that writes
    nothing else (an export). Takes :func:`audit`'s keyword arguments."""
    async with engine.begin() as conn:
        await audit(conn, **row)
