"""Several `onsale serve` processes on one Redis behave as one waiting room:
positions agree, admission happens once, killing a process loses no place."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from onsale.settings import Settings
from tests import live_server
from tests.conftest import ADMIN_TOKEN, auth, event_body


@pytest.fixture
def two_servers(settings: Settings, runtime: Any) -> Iterator[list[tuple[Any, str]]]:
    with live_server.running(settings, count=2) as servers:
        yield [(server.proc, server.host) for server in servers]


async def _first_status(base: str, event_id: str, token: str) -> dict[str, Any]:
    async with connect(f"ws://{base}/ws/events/{event_id}/queue?token={token}") as ws:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        return message


async def test_two_processes_are_one_waiting_room(two_servers: list[tuple[Any, str]]) -> None:
    (proc_a, a), (_, b) = two_servers
    async with (
        httpx.AsyncClient(base_url=f"http://{a}", timeout=10) as ca,
        httpx.AsyncClient(base_url=f"http://{b}", timeout=10) as cb,
    ):
        venue = (
            await ca.post(
                "/api/admin/venues",
                headers=auth(ADMIN_TOKEN),
                json={"name": "Two", "slug": "two-procs", "timezone": "UTC"},
            )
        ).json()
        # One admission a second, no more than 2 shoppers: the queue stays.
        r = await cb.post(
            "/api/admin/events",
            headers=auth(venue["api_key"]),
            json=event_body(rate=60, max_active=2),
        )
        assert r.status_code == 201, r.text
        event_id = r.json()["id"]
        fans = []
        for i in range(8):
            joined = await (ca if i % 2 else cb).post(f"/api/events/{event_id}/queue")
            assert joined.status_code == 201
            fans.append(joined.json()["queue_token"])
        started = time.monotonic()
        await asyncio.sleep(3.5)

        # Positions agree whichever process is asked, by HTTP or websocket.
        for token in fans[2:]:
            sa = await ca.get(f"/api/events/{event_id}/queue/status", headers=auth(token))
            sb = await cb.get(f"/api/events/{event_id}/queue/status", headers=auth(token))
            assert sa.json()["position"] == sb.json()["position"]
        ws_positions = [(await _first_status(a, event_id, t)).get("position") for t in fans[2:]]
        http_positions = [
            (await cb.get(f"/api/events/{event_id}/queue/status", headers=auth(t)))
            .json()
            .get("position")
            for t in fans[2:]
        ]
        assert ws_positions == http_positions

        # Admission happened once: both processes ran it every second, yet no
        # more than two shoppers (max_active) and the rate were let in.
        admitted = [
            (await cb.get(f"/api/events/{event_id}/queue/status", headers=auth(t))).json()["state"]
            == "admitted"
            for t in fans
        ]
        assert sum(admitted) == 2
        assert admitted[:2] == [True, True]
        assert time.monotonic() - started < 30

        # Killing a process loses no place: its fans come back on the other.
        before = [
            (await cb.get(f"/api/events/{event_id}/queue/status", headers=auth(t))).json()[
                "position"
            ]
            for t in fans[2:]
        ]
        proc_a.send_signal(signal.SIGKILL)
        proc_a.wait(timeout=10)
        after = [(await _first_status(b, event_id, t)).get("position") for t in fans[2:]]
        assert after == before
