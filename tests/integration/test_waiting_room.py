"""The real-time waiting room over a real socket: pushes, reconnects, the draw,
abandonment, sold out, bots (issue: real-time waiting room)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from onsale.app import create_app
from onsale.errors import RateLimited
from onsale.events.policy import Event
from onsale.queue import draw
from onsale.queue.guard import solve
from onsale.runtime import Runtime
from tests.conftest import Admit, MakeEvent, auth
from tests.integration.api_helpers import join
from tests.integration.clock import pass_time

CARD = {"provider": "test", "card_number": "4242424242424242"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest_asyncio.fixture(loop_scope="session")
async def live(runtime: Runtime) -> AsyncIterator[str]:
    """A real uvicorn server on loopback with the push loop running (5 a second)."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(runtime.settings, runtime=runtime),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.01)
    push = asyncio.create_task(runtime.fanout.run(0.2))
    yield f"127.0.0.1:{port}"
    push.cancel()
    server.should_exit = True
    await serving


async def _next(ws: ClientConnection, within: float = 3.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), within))
    return message


async def _admit_now(runtime: Runtime, event: Event) -> int:
    """One admission step as if a second had passed since the last one."""
    key = runtime.queue.store.keys(event.id).queue
    await runtime.redis.hset(key, "last_ms", int(time.time() * 1000) - 1000)
    return (await runtime.queue.admit(event)).admitted


def _ws(live: str, event_id: str, token: str) -> Any:
    return connect(f"ws://{live}/ws/events/{event_id}/queue?token={token}")


async def test_close_codes_for_an_unknown_event_and_a_bad_token(
    live: str, make_event: MakeEvent
) -> None:
    event = await make_event()
    async with connect(f"ws://{live}/ws/events/ev_nope/queue?token=x") as ws:
        with contextlib.suppress(ConnectionClosed):
            await _next(ws)
    assert ws.close_code == 4404
    async with _ws(live, event["id"], "forged.token") as ws:
        with contextlib.suppress(ConnectionClosed):
            await _next(ws)
    assert ws.close_code == 4401
    # No token, or an empty one: the socket follows a place, never makes one (I8).
    for query in ("", "?token="):
        async with connect(f"ws://{live}/ws/events/{event['id']}/queue{query}") as ws:
            with contextlib.suppress(ConnectionClosed):
                await _next(ws)
        assert ws.close_code == 4401


async def test_status_pushed_every_second_then_admitted_with_a_usable_token(
    live: str, client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event(max_active=1)
    ev = await runtime.events.get(event["id"])
    first = await join(client, ev.id)
    assert await _admit_now(runtime, ev) == 1
    second = await join(client, ev.id)
    assert second["state"] == "waiting" and second["position"] == 1

    async with _ws(live, ev.id, second["queue_token"]) as ws:
        started = time.monotonic()
        statuses = [await _next(ws) for _ in range(3)]
        assert time.monotonic() - started < 2.0  # at least one a second
        assert all(m["type"] == "status" and m["position"] == 1 for m in statuses)
        assert "eta_seconds" in statuses[-1] and "likely_sold_out" in statuses[-1]

        r = await client.delete(f"/api/events/{ev.id}/queue", headers=auth(first["queue_token"]))
        assert r.status_code == 204
        assert await _admit_now(runtime, ev) == 1
        message = await _next(ws)
        while message["type"] == "status":
            message = await _next(ws)
        assert message["type"] == "admitted"
        await asyncio.wait_for(ws.wait_closed(), 3)
        assert ws.close_code == 1000  # a clean close after the last message

    hold = await client.post(
        f"/api/events/{ev.id}/holds",
        headers=auth(message["access_token"]),
        json={"section": "FLOOR", "quantity": 2},
    )
    assert hold.status_code == 201, hold.text


async def test_reconnecting_with_the_same_token_keeps_the_place(
    live: str, client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event(max_active=1)
    ev = await runtime.events.get(event["id"])
    await join(client, ev.id)
    assert await _admit_now(runtime, ev) == 1
    fans = [await join(client, ev.id) for _ in range(3)]
    me = fans[1]
    async with _ws(live, ev.id, me["queue_token"]) as ws:
        assert (await _next(ws))["position"] == 2
    async with _ws(live, ev.id, me["queue_token"]) as ws:
        assert (await _next(ws))["position"] == 2
    again = await join(client, ev.id, me["queue_token"])
    assert again["entry_id"] == me["entry_id"] and again["position"] == 2
    newcomer = await join(client, ev.id)
    assert newcomer["entry_id"] != me["entry_id"] and newcomer["position"] == 4


async def test_every_waiting_fan_is_told_sold_out_within_two_seconds(
    live: str, client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event(ga=2, rows={}, max_active=1)
    ev = await runtime.events.get(event["id"])
    buyer = await join(client, ev.id)
    assert await _admit_now(runtime, ev) == 1
    status = (
        await client.get(f"/api/events/{ev.id}/queue/status", headers=auth(buyer["queue_token"]))
    ).json()
    waiting = [await join(client, ev.id) for _ in range(5)]
    sockets = [await _ws(live, ev.id, w["queue_token"]).__aenter__() for w in waiting]
    try:
        for ws in sockets:
            assert (await _next(ws))["state"] == "waiting"
        access = auth(status["access_token"])
        hold = (
            await client.post(
                f"/api/events/{ev.id}/holds",
                headers=access,
                json={"section": "FLOOR", "quantity": 2},
            )
        ).json()
        paid = await client.post(
            f"/api/holds/{hold['hold_id']}/checkout",
            headers={**access, "Idempotency-Key": "sellout-0001"},
            json={"buyer": {"email": "a@example.org", "name": "A"}, "payment": CARD},
        )
        assert paid.status_code == 201
        sold_at = time.monotonic()

        async def closed(ws: ClientConnection) -> float:
            while (await _next(ws))["type"] != "closed":
                pass
            return time.monotonic() - sold_at

        delays = await asyncio.gather(*(closed(ws) for ws in sockets))
        assert max(delays) < 2.0
    finally:
        for ws in sockets:
            await ws.close()


def _spearman(xs: list[int], ys: list[int]) -> float:
    n = len(xs)
    rank_x = {v: i for i, v in enumerate(sorted(xs))}
    rank_y = {v: i for i, v in enumerate(sorted(ys))}
    d2 = sum((rank_x[x] - rank_y[y]) ** 2 for x, y in zip(xs, ys, strict=True))
    return 1 - 6 * d2 / (n * (n * n - 1))


async def test_the_prequeue_draw_is_fair_and_anyone_can_check_it(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event(opens_in=10, max_active=1000)
    ev = await runtime.events.get(event["id"])
    before = (await client.get(f"/api/events/{ev.id}/draw")).json()
    assert before["drawn"] is False and "seed" not in before and len(before["commitment"]) == 64

    early = [await join(client, ev.id) for _ in range(300)]
    assert all(f["state"] == "prequeue" and f["position"] is None for f in early)
    await asyncio.sleep(max(ev.spec.sale.opens_at.timestamp() - time.time(), 0) + 0.1)
    late = [await join(client, ev.id) for _ in range(5)]  # the first of them draws

    numbers = [await runtime.queue.store.view(ev.id, f["entry_id"]) for f in early + late]
    early_numbers = [v.number for v in numbers[:300]]
    late_numbers = [v.number for v in numbers[300:]]
    assert sorted(early_numbers) == list(range(1, 301))
    assert late_numbers == [301, 302, 303, 304, 305]  # first come, first served after
    # The measure sees order when there is some (join order kept: rho 1)...
    assert _spearman(list(range(300)), list(range(1, 301))) > 0.99
    # ...and the draw shows none.
    assert abs(_spearman(list(range(300)), early_numbers)) < 0.25

    revealed = (await client.get(f"/api/events/{ev.id}/draw")).json()
    assert revealed["drawn"] is True and revealed["commitment"] == before["commitment"]
    assert revealed["entries"] == sorted(
        (f["entry_id"] for f in early),
        key=lambda e: early_numbers[[f["entry_id"] for f in early].index(e)],
    )
    assert draw.verify(revealed["seed"], revealed["commitment"], revealed["entries"]).ok
    tampered = ("00" if revealed["seed"][:2] != "00" else "11") + revealed["seed"][2:]
    assert not draw.verify(tampered, revealed["commitment"], revealed["entries"]).ok


async def test_fans_away_past_the_grace_are_skipped_and_admission_keeps_its_rate(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event(rate=600, max_active=1000)
    ev = await runtime.events.get(event["id"])
    await runtime.queue.admit(ev)  # the draw, and the clock of admission starts
    fans = [await join(client, ev.id) for _ in range(30)]
    keys = runtime.queue.store.keys(ev.id)
    away = [f["entry_id"] for f in fans[:20:2]]  # every other fan of the first 20
    long_ago = int(time.time() * 1000) - 120_000
    await runtime.redis.zadd(keys.seen, dict.fromkeys(away, long_ago))
    await runtime.redis.hset(keys.queue, "last_ms", int(time.time() * 1000) - 1000)

    result = await runtime.queue.admit(ev)
    assert result.admitted == 10  # one second at 600 a minute, the away ones not counted
    assert result.skipped == 10
    assert set(await runtime.redis.smembers(keys.skipped)) == set(away)
    active = set(await runtime.redis.zrange(keys.active, 0, -1))
    assert active == {f["entry_id"] for f in fans[1:20:2]}

    gone = fans[0]
    status = (
        await client.get(f"/api/events/{ev.id}/queue/status", headers=auth(gone["queue_token"]))
    ).json()
    assert status == {"state": "closed", "position": None, "reason": "away"}
    back = await join(client, ev.id, gone["queue_token"])
    assert back["entry_id"] == gone["entry_id"] and back["position"] == 11  # at the back


async def test_admission_stops_when_the_stock_is_in_shoppers_hands(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event(ga=3, rows={}, max_active=10)
    ev = await runtime.events.get(event["id"])
    fans = [await join(client, ev.id) for _ in range(5)]
    assert await _admit_now(runtime, ev) == 3
    assert await _admit_now(runtime, ev) == 0  # 3 places, 3 shoppers
    r = await client.delete(f"/api/events/{ev.id}/queue", headers=auth(fans[0]["queue_token"]))
    assert r.status_code == 204
    assert await _admit_now(runtime, ev) == 1  # a shopper left: one more


async def test_joins_are_rate_limited_per_client(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event()
    runtime.guard.joins_per_minute = 3
    try:
        for _ in range(3):
            await join(client, event["id"])
        r = await client.post(f"/api/events/{event['id']}/queue")
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert 0 < int(r.headers["Retry-After"]) <= 60
        try:
            await runtime.guard.limit_joins("198.51.100.7")
        except RateLimited:
            raise AssertionError("another client has its own budget") from None
    finally:
        runtime.guard.joins_per_minute = 0


async def test_proof_of_work_when_the_venue_asks_for_it(
    client: httpx.AsyncClient, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    r = await client.patch(
        f"/api/admin/events/{event['id']}",
        headers=auth(venue["api_key"]),
        json={"admission": {"pow_difficulty": 8}},
    )
    assert r.status_code == 200, r.text
    await asyncio.sleep(2.1)  # the event cache of the process
    no_proof = await client.post(f"/api/events/{event['id']}/queue")
    assert no_proof.status_code == 422

    challenge = (await client.get(f"/api/events/{event['id']}/queue/challenge")).json()
    assert challenge["difficulty"] == 8
    nonce = solve(challenge["challenge"], 8)
    proof = {"pow": {"challenge": challenge["challenge"], "nonce": nonce}}
    ok = await client.post(f"/api/events/{event['id']}/queue", json=proof)
    assert ok.status_code == 201, ok.text
    replay = await client.post(f"/api/events/{event['id']}/queue", json=proof)
    assert replay.status_code == 422
    wrong = {"pow": {"challenge": challenge["challenge"], "nonce": "not-it"}}
    assert (await client.post(f"/api/events/{event['id']}/queue", json=wrong)).status_code == 422


async def test_a_prequeue_fan_on_the_socket_is_admitted_after_the_draw(
    live: str, client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event(opens_in=1.5)
    ev = await runtime.events.get(event["id"])
    fan = await join(client, ev.id)
    async with _ws(live, ev.id, fan["queue_token"]) as ws:
        first = await _next(ws)
        assert first["state"] == "prequeue" and first["position"] is None
        await asyncio.sleep(max(ev.spec.sale.opens_at.timestamp() - time.time(), 0) + 0.1)
        assert await runtime.queue.draw(ev)
        assert await _admit_now(runtime, ev) == 1
        message = await _next(ws)
        while message["type"] == "status":
            message = await _next(ws)
        assert message["type"] == "admitted"


async def test_presence_takes_an_access_token_and_brings_a_parked_shopper_back(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    """``POST .../presence`` (issue 11): an admitted shopper's page beats;
    one parked as gone (unseen 20 s, holding nothing) gets the session back."""
    event = await make_event(ga=5, rows={}, max_active=10)
    other = await make_event(ga=5, rows={}, max_active=10)
    ev = await runtime.events.get(event["id"])
    access = await admitted(ev.id)
    fan = await join(client, ev.id)
    url = f"/api/events/{ev.id}/presence"
    assert (await client.post(url)).status_code == 401
    assert (await client.post(url, headers=auth("forged.token"))).status_code == 401
    assert (await client.post(url, headers=auth(fan["queue_token"]))).status_code == 403
    assert (await client.post(url, headers=auth(await admitted(other["id"])))).status_code == 403
    r = await client.post("/api/events/ev_nope/presence", headers=auth(access))
    assert r.status_code == 404

    keys = runtime.queue.store.keys(ev.id)
    [entry] = await runtime.redis.zrange(keys.active, 0, 0)
    await pass_time(runtime.redis, keys, 21_000)
    result = await runtime.queue.admit(ev)
    assert result.parked == 1 and await runtime.redis.zscore(keys.active, entry) is None
    assert (await client.post(url, headers=auth(access))).status_code == 204
    assert await runtime.redis.zscore(keys.active, entry) is not None
    assert await runtime.redis.zscore(keys.away, entry) is None


async def test_a_waiting_fan_is_told_when_every_place_left_is_held(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event(ga=2, rows={}, max_active=10, hold_seconds=300)
    access = await admitted(event["id"])
    r = await client.post(
        f"/api/events/{event['id']}/holds",
        json={"section": "FLOOR", "quantity": 2},
        headers=auth(access),
    )
    assert r.status_code == 201, r.text
    fan = await join(client, event["id"])
    status = (
        await client.get(
            f"/api/events/{event['id']}/queue/status", headers=auth(fan["queue_token"])
        )
    ).json()
    assert status["state"] == "waiting" and status["all_held"] is True
    assert 295 <= status["next_release_seconds"] <= 300
    assert status["eta_seconds"] >= status["next_release_seconds"]
    assert status["likely_sold_out"] is False  # the holds may come back
