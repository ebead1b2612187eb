"""Idempotency records of checkout in Postgres (I3).

One row per (scope, key): claimed ``in_progress`` by the attempt that runs,
then ``done`` with the answer to give again. Rows are written only for a
request that names a hold of the caller's (the service checks it first), so
nobody can grow the table with random hold ids; :func:`idem_expire` deletes, after
a while, the rows whose answer is not an order. A row whose answer is an
order stays as long as the order: a retry however late gets that order and
never pays twice.

``request_hash`` is a keyed hash (``policy.request_hash``); rows written before
migration 0008 had theirs cleared (they could give a card number away) and
match any request with their key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale.errors import CheckoutInProgress, IdempotencyConflict
from onsale.monitoring import timing
from onsale.schema import idempotency

CLEARED = ""  # the request_hash of a row migrated by 0008


@dataclass(frozen=True)
class Stored:
    status_code: int
    response: dict[str, Any]


def _same_request(row: Any, req_hash: str) -> bool:
    return bool(row.request_hash == req_hash or row.request_hash == CLEARED)


@timing.postgres
async def idem_peek(
    engine: AsyncEngine, scope: str, key: str, req_hash: str, *, stale_after: timedelta
) -> Stored | None:
    """The stored answer of ``key``, or None when no attempt with it is on
    record (or the one on record died: :func:`idem_begin` takes it over). Writes
    nothing.

    Raises IdempotencyConflict (the key came with another request) and
    CheckoutInProgress (an attempt with the key is running).
    """
    async with engine.connect() as conn:
        found = (
            await conn.execute(
                sa.select(idempotency, sa.func.now().label("now")).where(
                    idempotency.c.scope == scope, idempotency.c.key == key
                )
            )
        ).first()
    if found is None:
        return None
    if not _same_request(found, req_hash):
        raise IdempotencyConflict()
    if found.state == "done":
        return Stored(found.status_code, found.response)
    if found.now - found.updated_at < stale_after:
        raise CheckoutInProgress("A checkout with this key is running; retry shortly")
    return None


@timing.postgres
async def idem_begin(
    engine: AsyncEngine, scope: str, key: str, req_hash: str, *, stale_after: timedelta
) -> Stored | None:
    """Claim ``key`` for this request; the stored answer if it already ran.

    Raises IdempotencyConflict when the key came with another request, and
    CheckoutInProgress while another attempt with it runs (an attempt silent
    for ``stale_after`` is taken over).
    """
    async with engine.begin() as conn:
        inserted = await conn.execute(
            pg_insert(idempotency)
            .values(scope=scope, key=key, request_hash=req_hash, state="in_progress")
            .on_conflict_do_nothing()
            .returning(idempotency.c.key)
        )
        if inserted.first() is not None:
            return None
        row = (
            await conn.execute(
                sa.select(idempotency, sa.func.now().label("now"))
                .where(idempotency.c.scope == scope, idempotency.c.key == key)
                .with_for_update(of=idempotency)
            )
        ).one()
        if not _same_request(row, req_hash):
            raise IdempotencyConflict()
        if row.state == "done":
            return Stored(row.status_code, row.response)
        if row.now - row.updated_at < stale_after:
            raise CheckoutInProgress("A checkout with this key is running; retry shortly")
        await conn.execute(
            idempotency.update()
            .where(idempotency.c.scope == scope, idempotency.c.key == key)
            .values(updated_at=sa.func.now())
        )
        return None


async def idem_finish(
    conn: AsyncConnection, scope: str, key: str, status_code: int, response: dict[str, Any]
) -> None:
    await conn.execute(
        idempotency.update()
        .where(idempotency.c.scope == scope, idempotency.c.key == key)
        .values(state="done", status_code=status_code, response=response, updated_at=sa.func.now())
    )


@timing.postgres
async def idem_store(
    engine: AsyncEngine, scope: str, key: str, status_code: int, response: dict[str, Any]
) -> None:
    async with engine.begin() as conn:
        await idem_finish(conn, scope, key, status_code, response)


@timing.postgres
async def idem_forget(engine: AsyncEngine, scope: str, key: str) -> None:
    """Drop an unfinished claim so that a retry runs afresh (after a 503)."""
    async with engine.begin() as conn:
        await conn.execute(
            idempotency.delete().where(
                idempotency.c.scope == scope,
                idempotency.c.key == key,
                idempotency.c.state == "in_progress",
            )
        )


@timing.postgres
async def forget_stale_claims(engine: AsyncEngine, older_than: timedelta) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(
            idempotency.delete().where(
                idempotency.c.state == "in_progress",
                idempotency.c.updated_at < sa.func.now() - older_than,
            )
        )
    return int(result.rowcount or 0)


@timing.postgres
async def idem_expire(engine: AsyncEngine, older_than: timedelta, *, batch: int = 5000) -> int:
    """Delete finished rows older than ``older_than`` whose answer is not an
    order (declines, conflicts): a retry after that runs afresh and finds the
    hold long gone. Rows whose answer is an order stay. At most ``batch`` rows
    a call, to keep the transaction short."""
    doomed = (
        sa.select(idempotency.c.scope, idempotency.c.key)
        .where(
            idempotency.c.state == "done",
            idempotency.c.status_code != 201,
            idempotency.c.created_at < sa.func.now() - older_than,
        )
        .limit(batch)
    )
    async with engine.begin() as conn:
        result = await conn.execute(
            idempotency.delete().where(
                sa.tuple_(idempotency.c.scope, idempotency.c.key).in_(doomed)
            )
        )
    return int(result.rowcount or 0)
