"""The `onsale` command against the test servers: db upgrade, verify,
verify-draw (each exits non-zero when something is wrong)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from onsale.runtime import Runtime
from onsale.schema import tickets
from onsale.settings import Settings
from tests import live_server
from tests.conftest import Admit, MakeEvent, auth


def _onsale(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ONSALE_REDIS_URL": settings.redis_url or "",
        "ONSALE_DATABASE_URL": settings.database_url or "",
        "ONSALE_REDIS_PREFIX": settings.redis_prefix,
        "ONSALE_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "onsale.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_db_upgrade_is_idempotent(settings: Settings, runtime: Runtime) -> None:
    done = await asyncio.to_thread(_onsale, settings, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout


async def test_verify_passes_a_clean_sale_and_fails_an_oversold_one(
    settings: Settings,
    client: httpx.AsyncClient,
    runtime: Runtime,
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    event = await make_event()
    access = await admitted(event["id"])
    hold = (
        await client.post(
            f"/api/events/{event['id']}/holds", headers=auth(access), json={"seats": ["BALC-A-1"]}
        )
    ).json()
    paid = await client.post(
        f"/api/holds/{hold['hold_id']}/checkout",
        headers={**auth(access), "Idempotency-Key": str(uuid.uuid4())},
        json={
            "buyer": {"email": "a@example.org", "name": "A"},
            "payment": {"provider": "test", "card_number": "4242424242424242"},
        },
    )
    assert paid.status_code == 201
    clean = await asyncio.to_thread(_onsale, settings, "verify", "--event", event["id"])
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert '"ok": true' in clean.stdout

    # Bypass every guard, as a bug would: a second live ticket for the same
    # seat can only be written with the unique index gone.
    async with runtime.engine.begin() as conn:
        await conn.execute(sa.text("DROP INDEX tickets_live_seat"))
        row = (await conn.execute(sa.select(tickets).limit(1))).one()
        await conn.execute(
            tickets.insert().values(
                id="tkt_forged",
                order_id=row.order_id,
                event_id=row.event_id,
                section=row.section,
                seat=row.seat,
                price_cents=0,
                fee_cents=0,
                code="forged-code",
                status="live",
            )
        )
    try:
        broken = await asyncio.to_thread(_onsale, settings, "verify", "--event", event["id"])
        assert broken.returncode == 1
        assert "BALC-A-1 is in 2 live tickets" in broken.stdout
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(tickets.delete().where(tickets.c.id == "tkt_forged"))
            await conn.execute(
                sa.text(
                    "CREATE UNIQUE INDEX tickets_live_seat ON tickets (event_id, seat) "
                    "WHERE status = 'live' AND seat IS NOT NULL"
                )
            )


async def test_verify_draw_recomputes_the_revealed_order(
    settings: Settings, client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event(opens_in=8)
    not_yet = await asyncio.to_thread(_onsale, settings, "verify-draw", "--event", event["id"])
    assert not_yet.returncode == 1 and "not drawn yet" in not_yet.stdout
    for _ in range(20):
        assert (await client.post(f"/api/events/{event['id']}/queue")).status_code == 201
    ev = await runtime.events.get(event["id"])
    await asyncio.sleep(max(ev.spec.sale.opens_at.timestamp() - time.time(), 0) + 0.1)
    await runtime.queue.admit(ev)  # draws
    checked = await asyncio.to_thread(_onsale, settings, "verify-draw", "--event", event["id"])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("OK: 20 entries")


def test_a_malformed_setting_is_one_line_and_exit_2(settings: Settings) -> None:
    """Any command, any environment: the variable named, no traceback."""
    env = {**os.environ, "ONSALE_JOIN_RATE_PER_MINUTE": "lots", "ONSALE_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-m", "onsale.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "onsale: ONSALE_JOIN_RATE_PER_MINUTE must be an integer, got 'lots'"
    ]


def test_demo_is_served_with_the_same_bounds_as_serve(settings: Settings, runtime: Any) -> None:
    """``onsale demo`` serves with ``serving.uvicorn_options`` too: a huge
    request head is refused and its pages carry the security headers."""
    port = live_server.free_port()
    env = {
        **os.environ,
        "ONSALE_REDIS_URL": settings.redis_url or "",
        "ONSALE_DATABASE_URL": settings.database_url or "",
        "ONSALE_REDIS_PREFIX": settings.redis_prefix,
        "ONSALE_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "onsale.cli", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        fan_page = ""
        for line in proc.stdout:  # bounded by the demo's own start
            if "fan page:" in line:
                fan_page = line.split()[2]
                break
        assert fan_page, "the demo printed no fan page"
        live_server.Server(proc, f"127.0.0.1:{port}").wait_ready()
        page = httpx.get(fan_page, timeout=10)
        assert page.status_code == 200
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        huge = httpx.get(
            f"http://127.0.0.1:{port}/healthz", headers={"X-Big": "a" * 100_000}, timeout=10
        )
        assert huge.status_code == 431
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stdout:
            proc.stdout.close()
