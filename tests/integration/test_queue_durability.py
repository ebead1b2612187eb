"""A Redis that loses its data mid-sale loses no waiting fan's place (I6, I7).

Each test wipes the test Redis index (FLUSHDB, as a restart without
persistence would) in the middle of a sale, then brings the fans back with
their queue tokens. The negative controls build the queue with ``durable_places`` off and
show the places lost; with it on, every number is kept.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import redis.asyncio as aredis
import sqlalchemy as sa
from websockets.asyncio.client import connect

from onsale import db, tokens
from onsale.events.policy import Event
from onsale.queue import repo
from onsale.queue import service as queue_service
from onsale.queue.service import QueueService
from onsale.runtime import Runtime
from onsale.schema import queue_places
from onsale.settings import Settings
from tests import live_server
from tests.conftest import ADMIN_TOKEN, MakeEvent, auth, event_body
from tests.integration.api_helpers import join

SECRET = b"test-secret-key"


@pytest.fixture(params=[False, True], ids=["places-lost", "places-kept"])
def durable(request: pytest.FixtureRequest, runtime: Runtime) -> bool:
    """The switch under test (the queue service's ``durable_places``
    argument), set on this test's runtime before the event's queue is first
    used."""
    on = bool(request.param)
    runtime.queue.durable_places = on
    return on


async def _status(client: httpx.AsyncClient, event_id: str, token: str) -> httpx.Response:
    return await client.get(f"/api/events/{event_id}/queue/status", headers=auth(token))


async def _admit_now(runtime: Runtime, event: Event) -> int:
    """One admission step as if a second had passed since the last one."""
    key = runtime.queue.store.keys(event.id).queue
    await runtime.redis.hset(key, "last_ms", int(time.time() * 1000) - 1000)
    return (await runtime.queue.admit(event)).admitted


async def _number(runtime: Runtime, event_id: str, entry: str) -> int:
    return (await runtime.queue.store.view(event_id, entry)).number


async def _active_numbers(runtime: Runtime, event_id: str) -> list[int]:
    active = await runtime.redis.zrange(runtime.queue.store.keys(event_id).active, 0, -1)
    return sorted([await _number(runtime, event_id, e) for e in active])


async def _open_queue(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, fans: int
) -> tuple[Event, list[dict[str, Any]]]:
    """An open event at 600 a minute with ``fans`` joined and the first 10
    admitted."""
    event = await make_event(rate=600, max_active=1000)
    ev = await runtime.events.get(event["id"])
    await runtime.queue.admit(ev)  # the draw; admission's clock starts
    joined = [await join(client, ev.id) for _ in range(fans)]
    assert await _admit_now(runtime, ev) == 10
    return ev, joined


async def test_waiting_fans_keep_their_numbers_after_redis_lost_its_data(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, durable: bool
) -> None:
    ev, fans = await _open_queue(client, runtime, make_event, 40)
    waiting = fans[10:]
    before = [await _number(runtime, ev.id, f["entry_id"]) for f in waiting]
    positions = [(await _status(client, ev.id, f["queue_token"])).json() for f in waiting]
    assert before == list(range(11, 41))
    assert [p["position"] for p in positions] == list(range(1, 31))

    await runtime.redis.flushdb()
    again = [await join(client, ev.id, f["queue_token"]) for f in waiting]
    after = [await _number(runtime, ev.id, j["entry_id"]) for j in again]

    if not durable:  # the negative control: every place is lost
        assert after != before
        assert all(j["state"] == "waiting" for j in again)
        return
    assert after == before
    assert all(j["entry_id"] == f["entry_id"] for j, f in zip(again, waiting, strict=True))
    assert all(j["queue_token"] == f["queue_token"] for j, f in zip(again, waiting, strict=True))
    assert [j["number"] for j in again] == before  # what the client sees
    for old, new in zip(positions, again, strict=True):
        assert new["state"] == "waiting" and new["position"] <= old["position"]

    # Admission carries on from where it was, in number order.
    assert await _admit_now(runtime, ev) == 10
    assert await _active_numbers(runtime, ev.id) == list(range(11, 21))
    assert await _admit_now(runtime, ev) == 10
    assert await _active_numbers(runtime, ev.id) == list(range(11, 31))

    # Fans admitted just before the loss may never have been told: the first
    # look after it gives them their session, once, with their number.
    first = await join(client, ev.id, fans[0]["queue_token"])
    assert first["entry_id"] == fans[0]["entry_id"] and first["state"] == "admitted"
    assert first["number"] == 1 and "access_token" not in first
    told = (await _status(client, ev.id, fans[0]["queue_token"])).json()
    assert told["state"] == "admitted" and told["access_token"]
    r = await client.delete(f"/api/events/{ev.id}/queue", headers=auth(fans[0]["queue_token"]))
    assert r.status_code == 204
    assert (await _status(client, ev.id, fans[0]["queue_token"])).json()["state"] == "closed"

    # Somebody new joins behind everyone who was there.
    newcomer = await join(client, ev.id)
    assert newcomer["number"] > max(before)


async def test_a_fan_who_polls_keeps_the_place_and_status_tells_the_number(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    ev, fans = await _open_queue(client, runtime, make_event, 15)
    fan = fans[12]
    before = (await _status(client, ev.id, fan["queue_token"])).json()
    assert before["number"] == 13 and before["position"] == 3
    await runtime.redis.flushdb()
    after = await _status(client, ev.id, fan["queue_token"])
    assert after.status_code == 200, after.text
    assert after.json()["number"] == 13 and after.json()["position"] == 3


async def test_a_fan_on_an_open_socket_keeps_the_place(
    runtime: Runtime, client: httpx.AsyncClient, make_event: MakeEvent
) -> None:
    """A websocket survives a Redis restart: the fan-out's presence touch (the
    snapshot) is what brings the number back, before admission reaches it."""
    ev, fans = await _open_queue(client, runtime, make_event, 15)
    entry = fans[11]["entry_id"]
    await runtime.redis.flushdb()
    snap = await runtime.queue.store.snapshot(ev.id, [entry])
    assert snap.serving == 10
    assert await runtime.redis.hget(runtime.queue.store.keys(ev.id).entries, entry) == "12"
    # A fan on a socket admitted just before the loss, not told yet, is told.
    message = json.loads(await runtime.queue.admitted_message(ev, fans[0]["entry_id"]))
    assert message["type"] == "admitted"
    claims = tokens.verify(
        SECRET, message["access_token"], kind="access", event_id=ev.id, now=time.time()
    )
    assert claims.subject == fans[0]["entry_id"]


async def test_numbers_redis_forgot_are_waited_for_then_passed(
    client: httpx.AsyncClient,
    runtime: Runtime,
    make_event: MakeEvent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Admission waits a little for fans to come back, then passes those who
    did not (taking no budget for them); one who comes back later lines up
    again at the back, like a fan away past the grace."""
    monkeypatch.setattr(queue_service, "RETURN_SECONDS", 0.5)
    ev, fans = await _open_queue(client, runtime, make_event, 30)
    await runtime.redis.flushdb()
    back = [f for i, f in enumerate(fans[10:]) if i % 2 == 0]  # numbers 11, 13, ... 29
    away = [f for i, f in enumerate(fans[10:]) if i % 2 == 1]
    for f in back:
        await join(client, ev.id, f["queue_token"])

    assert await _admit_now(runtime, ev) == 1  # 11, then it waits for 12
    assert await _active_numbers(runtime, ev.id) == [11]
    await asyncio.sleep(0.6)
    assert await _admit_now(runtime, ev) == 9  # 13...29, the missing numbers passed
    assert await _active_numbers(runtime, ev.id) == list(range(11, 30, 2))

    late = await _status(client, ev.id, away[0]["queue_token"])
    assert late.json() == {"state": "closed", "position": None, "reason": "away"}
    again = await join(client, ev.id, away[0]["queue_token"])
    assert again["state"] == "waiting" and again["number"] > 40


async def test_a_prequeue_drawn_before_the_loss_keeps_its_order(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent, durable: bool
) -> None:
    event = await make_event(opens_in=1.5, rate=600, max_active=1000)
    ev = await runtime.events.get(event["id"])
    early = [await join(client, ev.id) for _ in range(20)]
    assert all(f["state"] == "prequeue" for f in early)
    await asyncio.sleep(max(ev.spec.sale.opens_at.timestamp() - time.time(), 0) + 0.1)
    await runtime.queue.admit(ev)  # draws
    drawn = (await client.get(f"/api/events/{ev.id}/draw")).json()["entries"]
    before = {f["entry_id"]: await _number(runtime, ev.id, f["entry_id"]) for f in early}
    assert sorted(before.values()) == list(range(1, 21))

    await runtime.redis.flushdb()
    late = await join(client, ev.id)  # the first after the loss: behind all of them
    statuses = [await _status(client, ev.id, f["queue_token"]) for f in early]
    if not durable:
        assert all(s.status_code == 404 for s in statuses)  # places lost
        return
    assert late["number"] > 20
    after = {e: s.json()["number"] for e, s in zip(before, statuses, strict=True)}
    assert after == before
    assert (await client.get(f"/api/events/{ev.id}/draw")).json()["entries"] == drawn
    order = await runtime.redis.lrange(runtime.queue.store.keys(ev.id).draw_order, 0, -1)
    assert order == drawn
    assert await _admit_now(runtime, ev) == 10
    assert await _active_numbers(runtime, ev.id) == list(range(1, 11))


async def test_forged_and_other_event_tokens_are_still_refused(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    ev, fans = await _open_queue(client, runtime, make_event, 12)
    other = await make_event()
    await runtime.redis.flushdb()
    expires = int(time.time()) + 3600
    # A forger would like number 11, the head of the queue.
    forged = tokens.sign(b"not-the-key", tokens.Claims("queue", ev.id, "q_forger-11", expires))
    r = await client.post(f"/api/events/{ev.id}/queue", headers=auth(forged))
    assert r.status_code == 401, r.text
    r = await _status(client, ev.id, forged)
    assert r.status_code == 401, r.text
    r = await client.post(f"/api/events/{other['id']}/queue", headers=auth(fans[10]["queue_token"]))
    assert r.status_code == 403, r.text
    access = tokens.sign(SECRET, tokens.Claims("access", ev.id, fans[10]["entry_id"], expires))
    assert (await _status(client, ev.id, access)).status_code == 403
    # Nothing was put back by the refused calls; the rightful fan gets 11.
    numbers = runtime.queue.store.keys(ev.id).numbers
    assert await runtime.redis.hget(numbers, "11") is None
    assert (await join(client, ev.id, fans[10]["queue_token"]))["number"] == 11


async def test_an_admitted_fan_shops_on_with_the_access_token_after_the_queue_token(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    """A fan admitted well before the loss gets no second number or session
    from the queue token (it brings back the entry only); the access token,
    which proves the admission, brings back the session."""
    ev, fans = await _open_queue(client, runtime, make_event, 40)
    fan = fans[0]
    access = (await _status(client, ev.id, fan["queue_token"])).json()["access_token"]
    assert await _admit_now(runtime, ev) == 10
    assert await _admit_now(runtime, ev) == 10  # 30 served: number 1 was long ago
    await runtime.redis.flushdb()
    again = await join(client, ev.id, fan["queue_token"])
    assert again["state"] == "closed" and again["entry_id"] == fan["entry_id"]
    assert await _number(runtime, ev.id, fan["entry_id"]) == 1
    assert 1 not in await _active_numbers(runtime, ev.id)
    r = await client.post(
        f"/api/events/{ev.id}/holds", headers=auth(access), json={"seats": ["BALC-A-1"]}
    )
    assert r.status_code == 201, r.text
    assert (await _status(client, ev.id, fan["queue_token"])).json()["state"] == "admitted"


async def test_numbers_are_reserved_in_postgres_a_block_at_a_time(
    client: httpx.AsyncClient,
    runtime: Runtime,
    make_event: MakeEvent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No number is given twice across a loss: joins take numbers only from a
    block reserved in Postgres first (one write per block, not per join)."""
    monkeypatch.setattr(queue_service, "RESERVE_BLOCK", 5)
    event = await make_event(rate=600, max_active=1000)
    ev = await runtime.events.get(event["id"])
    await runtime.queue.admit(ev)
    fans = [await join(client, ev.id) for _ in range(12)]
    async with runtime.engine.connect() as conn:
        reserved = (
            await conn.execute(
                sa.select(queue_places.c.reserved).where(queue_places.c.event_id == ev.id)
            )
        ).scalar_one()
    assert 12 <= reserved < 12 + 5 + 1

    await runtime.redis.flushdb()
    back = [await join(client, ev.id, f["queue_token"]) for f in fans[:3]]
    new = [await join(client, ev.id) for _ in range(4)]
    rest = [await join(client, ev.id, f["queue_token"]) for f in fans[3:]]
    numbers = [j["number"] for j in back + new + rest]
    assert len(set(numbers)) == len(numbers)
    assert [j["number"] for j in back + rest] == list(range(1, 13))
    assert min(j["number"] for j in new) > reserved


async def test_two_processes_restoring_at_once_restore_once(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await make_event(opens_in=1.2, max_active=1000)
    ev = await runtime.events.get(event["id"])
    early = [await join(client, ev.id) for _ in range(8)]
    await asyncio.sleep(max(ev.spec.sale.opens_at.timestamp() - time.time(), 0) + 0.1)
    await runtime.queue.admit(ev)
    later = [await join(client, ev.id) for _ in range(4)]
    await runtime.redis.flushdb()

    other = Runtime.build(runtime.settings, runtime.redis, runtime.engine)  # a second process
    fans = early + later
    joins = [
        (runtime if i % 2 else other).queue.join(ev, f["queue_token"]) for i, f in enumerate(fans)
    ]
    results = await asyncio.gather(*joins)
    assert [r.joined.number for r in results][8:] == [9, 10, 11, 12]
    assert sorted(r.joined.number for r in results) == list(range(1, 13))
    keys = runtime.queue.store.keys(ev.id)
    assert await runtime.redis.llen(keys.draw_order) == 8
    assert await runtime.redis.hlen(keys.numbers) == 12


async def test_the_status_poll_tells_likely_sold_out_as_the_websocket_does(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    """Three places, three shoppers admitted: a fan with two or more fans ahead
    (two tickets an order, nobody abandoning yet) will likely find none left."""
    event = await make_event(ga=3, rows={}, rate=600, max_active=1000)
    ev = await runtime.events.get(event["id"])
    await runtime.queue.admit(ev)
    fans = [await join(client, ev.id) for _ in range(8)]
    assert await _admit_now(runtime, ev) == 3
    told = [(await _status(client, ev.id, f["queue_token"])).json() for f in fans[3:]]
    assert [t["position"] for t in told] == [1, 2, 3, 4, 5]
    assert [t["likely_sold_out"] for t in told] == [False, False, True, True, True]
    admitted = (await _status(client, ev.id, fans[0]["queue_token"])).json()
    assert admitted["state"] == "admitted" and "likely_sold_out" not in admitted


async def test_a_redis_that_came_back_older_gets_its_counters_raised(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    """A failover to a replica that lagged, or a restart from an old snapshot:
    Redis thinks it is whole but its numbers went back. The next admission
    step notices (serving and next only ever grow) and raises them from
    Postgres, so no number is given twice and nobody's place moves back."""
    ev, fans = await _open_queue(client, runtime, make_event, 15)
    raw = aredis.Redis.from_url(runtime.settings.redis_url or "")
    keys = runtime.queue.store.keys(ev.id).all()
    old = {k: await raw.dump(k) for k in keys}
    fans += [await join(client, ev.id) for _ in range(10)]  # numbers 16...25
    assert await _admit_now(runtime, ev) == 10  # serving 20

    await raw.flushdb()
    for key, dump in old.items():
        if dump is not None:
            await raw.restore(key, 0, dump, replace=True)
    await raw.aclose()
    await runtime.queue.admit(ev)  # notices: serving went from 20 back to 15

    later = [await join(client, ev.id, f["queue_token"]) for f in fans[20:]]
    assert [j["number"] for j in later] == [21, 22, 23, 24, 25]
    assert [j["position"] for j in later] == [1, 2, 3, 4, 5]
    newcomer = await join(client, ev.id)
    assert newcomer["number"] > 25 and newcomer["position"] > 5


class Watcher:
    """What the fans of one event were told, by websocket or by polling."""

    def __init__(self, http: httpx.AsyncClient, event_id: str, fans: list[dict[str, Any]]):
        self.http, self.event_id = http, event_id
        self.numbers = {f["entry_id"]: f["number"] for f in fans}
        self.told: dict[str, list[int]] = {f["entry_id"]: [] for f in fans}
        self.admitted: list[str] = []
        self.refused: list[str] = []

    def _heard(self, entry: str, message: dict[str, Any]) -> None:
        if message.get("position") is not None:
            self.told[entry].append(message["position"])
        if "number" in message:
            assert message["number"] == self.numbers[entry]

    async def on_socket(self, fan: dict[str, Any], base: str) -> None:
        url = f"ws://{base.removeprefix('http://')}/ws/events/{self.event_id}/queue"
        async with connect(f"{url}?token={fan['queue_token']}") as ws:
            async for raw in ws:
                message = json.loads(raw)
                self._heard(fan["entry_id"], message)
                if message["type"] == "admitted":
                    self.admitted.append(fan["entry_id"])
                if message["type"] != "status":
                    return
            self.refused.append(f"{fan['entry_id']} closed {ws.close_code}")

    async def polling(self, fan: dict[str, Any], base: str) -> None:
        while True:
            s = await self.http.get(
                f"{base}/api/events/{self.event_id}/queue/status",
                headers=auth(fan["queue_token"]),
            )
            if s.status_code >= 400:
                self.refused.append(f"{fan['entry_id']} {s.status_code} {s.text}")
                return
            body = s.json()
            self._heard(fan["entry_id"], body)
            if body["state"] != "waiting":
                self.admitted.append(fan["entry_id"])
                return
            await asyncio.sleep(0.3)


@pytest.mark.timeout(90)
async def test_two_live_processes_lose_no_place_when_redis_is_wiped(
    settings: Settings, runtime: Runtime, redis_client: aredis.Redis
) -> None:
    """Real `onsale serve` processes (admission and push loops running), fans
    on websockets and fans polling: after FLUSHDB no fan is ever told a larger
    position, none is refused its token, every number stays, and admission
    carries on in number order."""
    with live_server.running(settings, count=2) as servers:
        a, b = (s.url for s in servers)
        async with httpx.AsyncClient(timeout=10) as http:
            venue = (
                await http.post(
                    f"{a}/api/admin/venues",
                    headers=auth(ADMIN_TOKEN),
                    json={"name": "Wipe", "slug": "wipe", "timezone": "UTC"},
                )
            ).json()
            r = await http.post(
                f"{b}/api/admin/events",
                headers=auth(venue["api_key"]),
                json=event_body(rate=120, max_active=100),
            )
            event_id = r.json()["id"]
            fans = [
                (await http.post(f"{(a, b)[i % 2]}/api/events/{event_id}/queue")).json()
                for i in range(12)
            ]
            watch = Watcher(http, event_id, fans)
            assert sorted(watch.numbers.values()) == list(range(1, 13))
            tasks = [
                asyncio.create_task(watch.on_socket(fan, b) if i % 2 else watch.polling(fan, a))
                for i, fan in enumerate(fans)
            ]
            await asyncio.sleep(1.5)
            assert watch.admitted, "admission runs before the loss"
            await redis_client.flushdb()
            _, pending = await asyncio.wait(tasks, timeout=45)
            for task in pending:
                task.cancel()

    assert not watch.refused
    assert not pending, f"not admitted: {len(pending)}"
    for entry, positions in watch.told.items():
        assert positions == sorted(positions, reverse=True), (entry, positions)
    # Admitted in number order: a session's expiry is its admission time plus
    # the same session length for all.
    active = await redis_client.zrange(
        runtime.queue.store.keys(event_id).active, 0, -1, withscores=True
    )
    sessions = sorted((watch.numbers[e], at) for e, at in active if e in watch.numbers)
    assert len(sessions) >= 8
    assert [at for _, at in sessions] == sorted(at for _, at in sessions)


async def test_joining_goes_on_while_postgres_cannot_reserve(
    client: httpx.AsyncClient,
    runtime: Runtime,
    make_event: MakeEvent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Postgres down: the reservation fails, numbers are given anyway (joins do
    not stop); the next reservation that works covers them all."""
    monkeypatch.setattr(queue_service, "RESERVE_BLOCK", 5)
    event = await make_event(rate=600, max_active=1000)
    ev = await runtime.events.get(event["id"])
    await runtime.queue.admit(ev)
    down = db.create_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    cut_off = QueueService(
        runtime.queue.store,
        runtime.events,
        runtime.signer,
        engine=down,
        recovery=runtime.recovery,
        reclaim=runtime.inventory.store.reclaim,
    )
    try:
        joined = [await cut_off.join(ev, None) for _ in range(7)]
    finally:
        await down.dispose()
    assert [j.joined.number for j in joined] == list(range(1, 8))
    places = await repo.get_places(runtime.engine, ev.id)
    assert places.reserved == 0

    cut_off.engine = runtime.engine  # Postgres is back
    more = [await cut_off.join(ev, None) for _ in range(3)]
    assert [j.joined.number for j in more] == list(range(8, 11))
    await cut_off.admit(ev)  # the next admission step catches up
    assert (await repo.get_places(runtime.engine, ev.id)).reserved >= 10


async def test_a_prequeue_lost_before_the_draw_is_refilled_by_the_fans_who_come_back(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    """Before the draw the pre-queue has no numbers to keep: a fan who polls,
    or whose socket's presence reaches Redis, before the opening is back in
    it and in the draw. One who comes back only after the draw joins again
    behind the pre-queue (the draw cannot be redone for them)."""
    event = await make_event(opens_in=1.5, rate=600, max_active=1000)
    ev = await runtime.events.get(event["id"])
    fans = [await join(client, ev.id) for _ in range(10)]
    await runtime.redis.flushdb()
    for f in fans[:5]:
        s = await _status(client, ev.id, f["queue_token"])
        assert s.status_code == 200 and s.json()["state"] == "prequeue", s.text
    await runtime.queue.store.snapshot(ev.id, [f["entry_id"] for f in fans[5:8]])
    r = await client.post(f"/api/events/{ev.id}/queue")
    assert r.status_code == 201 and r.json()["state"] == "prequeue"  # a new fan is new
    assert len(await runtime.queue.store.prequeue(ev.id)) == 9

    await asyncio.sleep(max(ev.spec.sale.opens_at.timestamp() - time.time(), 0) + 0.1)
    await runtime.queue.admit(ev)  # draws
    drawn = (await client.get(f"/api/events/{ev.id}/draw")).json()["entries"]
    assert set(drawn) == {f["entry_id"] for f in fans[:8]} | {r.json()["entry_id"]}
    assert (await _status(client, ev.id, fans[8]["queue_token"])).status_code == 404
    again = await join(client, ev.id, fans[8]["queue_token"])
    assert again["number"] == 10 and again["entry_id"] != fans[8]["entry_id"]


async def test_the_next_block_is_reserved_before_it_is_needed(
    client: httpx.AsyncClient,
    runtime: Runtime,
    make_event: MakeEvent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queue_service, "RESERVE_BLOCK", 10)
    event = await make_event(rate=600, max_active=1000)
    ev = await runtime.events.get(event["id"])
    await runtime.queue.admit(ev)
    for _ in range(22):  # reserving only when out: blocks to 11, then to 22
        await join(client, ev.id)
    durable = runtime.queue.store.keys(ev.id).queue
    for _ in range(100):  # the reservation ahead runs in the background
        reserved = (await repo.get_places(runtime.engine, ev.id)).reserved
        if reserved == int(await runtime.redis.hget(durable, "durable") or 0):
            break
        await asyncio.sleep(0.01)
    # Reserved ahead of the last number given: the next join writes nothing.
    assert reserved > 22
    assert int(await runtime.redis.hget(durable, "durable") or 0) == reserved
