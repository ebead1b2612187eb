"""A real `onsale serve` drained by SIGTERM while fans are connected and a
checkout is in flight (onsale.drain).

With the drain on: /readyz says 503 at once, the fans' sockets close with 1012
in batches (their close times spread over the drain's spread, after its wait),
a new socket is turned away with 1012, the checkout in flight completes, and
the process exits within the bound. With it off (``ONSALE_DRAIN_SECONDS=0``,
uvicorn's plain shutdown): /readyz never says 503 and every socket closes in
the same instant, the wave the drain exists to avoid.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from onsale import drain
from onsale.runtime import Runtime
from onsale.settings import Settings
from tests import live_server
from tests.conftest import ADMIN_TOKEN, auth, event_body

FANS = 16
DRAIN = {
    "ONSALE_DRAIN_SECONDS": "8",
    "ONSALE_DRAIN_WAIT_SECONDS": "0.5",
    "ONSALE_DRAIN_SPREAD_SECONDS": "1.0",
}
CARD = {"provider": "test", "card_number": "4242424242424242"}


@pytest.fixture
def server(settings: Settings, runtime: Runtime, request: pytest.FixtureRequest) -> Iterator[Any]:
    env: dict[str, str] = getattr(request, "param", DRAIN)
    with live_server.running(settings, count=1, **env) as servers:
        yield servers[0]


async def _event(c: httpx.AsyncClient) -> str:
    venue = (
        await c.post(
            "/api/admin/venues",
            headers=auth(ADMIN_TOKEN),
            json={"name": "Drain", "slug": f"drain-{uuid.uuid4().hex[:6]}", "timezone": "UTC"},
        )
    ).json()
    # One shopper at a time: the first joiner buys, the others wait.
    r = await c.post(
        "/api/admin/events",
        headers=auth(venue["api_key"]),
        json=event_body(rate=60, max_active=1),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _admitted(c: httpx.AsyncClient, event_id: str, token: str) -> str:
    for _ in range(100):
        s = (await c.get(f"/api/events/{event_id}/queue/status", headers=auth(token))).json()
        if s["state"] == "admitted":
            return str(s["access_token"])
        await asyncio.sleep(0.1)
    raise AssertionError("the first fan was never admitted")


async def _closed(ws: ClientConnection) -> tuple[float, int | None]:
    """When the server closed the socket (monotonic), and with which code."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed as exc:
        return time.monotonic(), exc.rcvd.code if exc.rcvd else None


@asynccontextmanager
async def _tables_locked(runtime: Runtime) -> AsyncIterator[None]:
    """The checkout's tables locked: a checkout started now waits (less than
    the pool's 3 s lock_timeout) until the block ends."""
    async with runtime.engine.connect() as conn, conn.begin():
        tables = "orders, payments, idempotency"
        await conn.execute(text(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"))
        yield


async def _readyz_until_gone(base: str, stop: float) -> list[int]:
    codes: list[int] = []
    async with httpx.AsyncClient(timeout=1) as c:
        while time.monotonic() < stop:
            try:
                codes.append((await c.get(f"{base}/readyz")).status_code)
            except httpx.HTTPError:
                break  # the listener is closed
            await asyncio.sleep(0.05)
    return codes


async def _scene(server: Any, runtime: Runtime, *, checkout: bool) -> dict[str, Any]:
    """Fans connected, optionally a checkout in flight, then SIGTERM: what
    each side saw."""
    base = server.url
    async with httpx.AsyncClient(base_url=base, timeout=15) as c:
        event_id = await _event(c)
        tokens = [
            (await c.post(f"/api/events/{event_id}/queue")).json()["queue_token"]
            for _ in range(FANS + 1)
        ]
        buyer, waiting = tokens[0], tokens[1:]
        access = await _admitted(c, event_id, buyer)
        hold = await c.post(
            f"/api/events/{event_id}/holds", json={"seats": ["BALC-A-1"]}, headers=auth(access)
        )
        assert hold.status_code == 201, hold.text
        sockets = [
            await connect(f"ws://{server.host}/ws/events/{event_id}/queue?token={t}")
            for t in waiting
        ]
        for ws in sockets:
            await asyncio.wait_for(ws.recv(), 5)  # the first status: connected
        closes = [asyncio.create_task(_closed(ws)) for ws in sockets]
        pay: asyncio.Task[httpx.Response] | None = None
        async with _tables_locked(runtime) if checkout else _nothing():
            if checkout:
                pay = asyncio.create_task(
                    c.post(
                        f"/api/holds/{hold.json()['hold_id']}/checkout",
                        json={"buyer": {"email": "f@example.org", "name": "F"}, "payment": CARD},
                        headers={**auth(access), "Idempotency-Key": str(uuid.uuid4())},
                    )
                )
                await asyncio.sleep(0.3)
                assert not pay.done()
            sigterm = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            readyz = asyncio.create_task(_readyz_until_gone(base, sigterm + 10))
            await asyncio.sleep(0.3)
            try:
                late = await connect(f"ws://{server.host}/ws/events/{event_id}/queue?token={buyer}")
                late_close: tuple[float, int | None] | None = await asyncio.wait_for(
                    _closed(late), 5
                )
            except (OSError, ConnectionClosed):
                late_close = None  # no drain: the listener may be gone already
            if checkout:
                await asyncio.sleep(2.3 - (time.monotonic() - sigterm))
        closed = await asyncio.gather(*closes)
        paid = await pay if pay is not None else None
        exit_code = await asyncio.to_thread(server.proc.wait, 30)
        exited = time.monotonic() - sigterm
    return {
        "sigterm": sigterm,
        "closes": [(t - sigterm, code) for t, code in closed],
        "late": late_close,
        "readyz": await readyz,
        "paid": paid,
        "exit_code": exit_code,
        "exited": exited,
    }


@asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


async def test_sigterm_drains_fans_in_batches_and_finishes_the_checkout(
    server: Any, runtime: Runtime
) -> None:
    seen = await _scene(server, runtime, checkout=True)
    codes = {code for _, code in seen["closes"]}
    times = sorted(t for t, _ in seen["closes"])
    assert codes == {1012}, seen["closes"]
    assert 503 in seen["readyz"] and 200 not in seen["readyz"], seen["readyz"]
    # Nobody is told before the balancer's wait (0.5 s), then batches every
    # 0.25 s over the 1 s spread: five groups of close times.
    assert times[0] >= 0.45, times
    assert times[-1] - times[0] >= 0.8, times
    groups = 1 + sum(1 for a, b in itertools.pairwise(times) if b - a > 0.15)
    assert groups >= 4, times
    assert seen["late"] is not None and seen["late"][1] == 1012
    # The checkout waited on its tables past the start of uvicorn's shutdown
    # (wait + spread = 1.5 s) and still completed.
    assert seen["paid"] is not None and seen["paid"].status_code == 201, seen["paid"]
    assert seen["exit_code"] == 0
    assert seen["exited"] < float(DRAIN["ONSALE_DRAIN_SECONDS"]), seen["exited"]


@pytest.mark.parametrize("server", [{"ONSALE_DRAIN_SECONDS": "0"}], indirect=True)
async def test_without_the_drain_every_socket_closes_at_once(server: Any, runtime: Runtime) -> None:
    """The protection off: uvicorn's shutdown alone. /readyz never says
    draining, and every fan is told to reconnect in the same instant."""
    seen = await _scene(server, runtime, checkout=False)
    times = sorted(t for t, _ in seen["closes"])
    assert 503 not in seen["readyz"], seen["readyz"]
    assert times[-1] - times[0] < 0.2, times
    assert times[0] < 0.45, times


HUNG_SHUTDOWN = """
import asyncio, os, signal, sys
from onsale.drain import Drain

async def main():
    # uvicorn's handler stand-in: the shutdown it starts never ends.
    signal.signal(signal.SIGTERM, lambda *_: None)
    drain = Drain(bound=float(sys.argv[1]), wait=0.1, spread=0.1)
    drain.install(list, asyncio.get_running_loop())
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.sleep(float(sys.argv[2]))  # what holds the process

asyncio.run(main())
"""


def _hung(bound: float, held: float) -> tuple[int, float, str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", HUNG_SHUTDOWN, str(bound), str(held)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, time.monotonic() - started, done.stderr


def test_a_shutdown_that_hangs_is_ended_at_the_bound() -> None:
    """Whatever holds the process after the drain (a lifespan step that never
    returns), it is gone at the bound, with its own exit status and a log
    line. Without the drain (bound 0) the same process stays as long as it is
    held."""
    code, took, stderr = _hung(1.5, held=30)
    assert code == drain.EXIT_OVERDUE, stderr[-2000:]
    assert 1.5 <= took < 6, took
    assert "exiting now" in stderr

    code, took, _ = _hung(0, held=4)
    assert code == 0 and took >= 4


@pytest.fixture
def two_workers(settings: Settings, runtime: Runtime) -> Iterator[live_server.Server]:
    """``onsale serve --workers 2`` with the drain settings."""
    port = live_server.free_port()
    env = {
        **os.environ,
        "ONSALE_REDIS_URL": settings.redis_url or "",
        "ONSALE_DATABASE_URL": settings.database_url or "",
        "ONSALE_REDIS_PREFIX": settings.redis_prefix,
        "ONSALE_SECRET_KEY": settings.secret_key.reveal(),
        "ONSALE_ADMIN_TOKEN": ADMIN_TOKEN,
        "ONSALE_JOIN_RATE_PER_MINUTE": "0",
        "ONSALE_LOG_LEVEL": "WARNING",
        **DRAIN,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "onsale.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
    )
    server = live_server.Server(proc, f"127.0.0.1:{port}")
    try:
        server.wait_ready()
        time.sleep(2)  # the second worker
        yield server
    finally:
        server.stop()


async def test_with_workers_each_worker_drains(two_workers: live_server.Server) -> None:
    """SIGTERM to uvicorn's supervisor reaches each worker, and each drains
    its own fans (1012, after the wait) and exits."""
    async with httpx.AsyncClient(base_url=two_workers.url, timeout=15) as c:
        event_id = await _event(c)
        tokens = [
            (await c.post(f"/api/events/{event_id}/queue")).json()["queue_token"] for _ in range(13)
        ]
    sockets = [
        await connect(f"ws://{two_workers.host}/ws/events/{event_id}/queue?token={t}")
        for t in tokens[1:]
    ]
    for ws in sockets:
        await asyncio.wait_for(ws.recv(), 5)
    sigterm = time.monotonic()
    two_workers.proc.send_signal(signal.SIGTERM)
    closed = await asyncio.gather(*(_closed(ws) for ws in sockets))
    code = await asyncio.to_thread(two_workers.proc.wait, 20)
    assert {c for _, c in closed} == {1012}
    assert min(t for t, _ in closed) - sigterm >= 0.45
    assert code == 0
