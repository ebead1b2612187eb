"""Alembic environment: runs the migrations over asyncpg.

Several processes may start at once; a Postgres advisory lock makes them take
turns, so each migration runs exactly once.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from onsale.schema import metadata

MIGRATION_LOCK = 7_320_001  # arbitrary, constant advisory-lock id


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(url, hide_parameters=True)  # no row values in logged errors
    try:
        async with engine.connect() as connection:
            lock = {"id": MIGRATION_LOCK}
            await connection.execute(sa.text("SELECT pg_advisory_lock(:id)"), lock)
            try:
                await connection.run_sync(_run)
                await connection.commit()
            finally:
                await connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK}
                )
                await connection.commit()
    finally:
        await engine.dispose()


asyncio.run(_run_async(context.config.get_main_option("sqlalchemy.url") or ""))
