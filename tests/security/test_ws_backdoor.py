"""The waiting-room websocket is no back door into the queue (I8): it follows
a place a queue token names, and never makes one. A new place is given only
by ``POST /api/events/{id}/queue``, behind the event's proof of work and the
per-address join limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from onsale import tokens
from onsale.app import create_app
from onsale.queue.guard import solve
from onsale.runtime import Runtime
from tests.conftest import MakeEvent, auth, event_body

# Who knocks: no token parameter, an empty one, and tokens that are not ours.
NO_TOKEN: str | None = None
FORGED = ["", "x", "forged.token", "é.é", "eyJrIjoicSJ9.AAAA", "a" * 5000]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(runtime: Runtime) -> AsyncIterator[str]:
    """A real uvicorn server on loopback ("127.0.0.1:PORT"), pushing 5 times a second."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(runtime.settings, runtime=runtime),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    serve = asyncio.create_task(server.serve())
    for _ in range(300):
        if server.started:
            break
        await asyncio.sleep(0.01)
    push = asyncio.create_task(runtime.fanout.run(0.2))
    try:
        yield f"127.0.0.1:{port}"
    finally:
        push.cancel()
        server.should_exit = True
        await serve


async def knock(
    host: str, event_id: str, token: str | None, within: float = 1.5
) -> tuple[int | None, list[dict[str, Any]]]:
    """Open the queue socket with ``token`` (None: no token parameter at all)
    and listen until it closes or ``within`` seconds pass: (close code or
    None if still open, the messages heard)."""
    url = f"ws://{host}/ws/events/{event_id}/queue"
    if token is not None:
        url += f"?token={quote(token)}"
    heard: list[dict[str, Any]] = []
    async with connect(url, compression=None) as ws:
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(within):
                async for raw in ws:
                    heard.append(json.loads(raw))
        code = ws.close_code
    return code, heard


async def places(runtime: Runtime, event_id: str) -> tuple[int, int]:
    """(entries the queue knows, queue numbers given out so far)."""
    k = runtime.queue.store.keys(event_id)
    entries = await runtime.redis.hlen(k.entries)
    given = await runtime.redis.hget(k.queue, "next")
    return int(entries), int(given or 0)


async def _pow_event(client: httpx.AsyncClient, venue: dict[str, str]) -> str:
    body = event_body()
    body["admission"]["pow_difficulty"] = 8
    r = await client.post("/api/admin/events", json=body, headers=auth(venue["api_key"]))
    assert r.status_code == 201, r.text
    event_id: str = r.json()["id"]
    return event_id


async def _honest_join(client: httpx.AsyncClient, event_id: str) -> dict[str, Any]:
    challenge = (await client.get(f"/api/events/{event_id}/queue/challenge")).json()
    proof = {"challenge": challenge["challenge"], "nonce": solve(challenge["challenge"], 8)}
    r = await client.post(f"/api/events/{event_id}/queue", json={"pow": proof})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_socket_without_a_valid_token_gets_no_place(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], make_event: MakeEvent
) -> None:
    """No token, an empty one, a forged one, a token of another kind or event:
    close 4401, no message, no entry, on an event that asks for a proof of work.

    Old code: every socket without a token, or with an empty one, was given a
    new place without the proof of work and heard its status every second
    (``AssertionError: ('61 got in, 61 new entries', [('None', None,
    'status'), ...])``: 30 without a token, 31 with an empty one).
    """
    event_id = await _pow_event(client, venue)
    assert (await client.post(f"/api/events/{event_id}/queue")).status_code == 422
    honest = await _honest_join(client, event_id)
    other = await make_event()
    elsewhere = (await client.post(f"/api/events/{other['id']}/queue")).json()["queue_token"]
    wrong_kind = tokens.sign(
        runtime.settings.secret_key.reveal().encode(),
        tokens.Claims("access", event_id, honest["entry_id"], 2**31),
    )
    knocks: list[str | None] = [NO_TOKEN] * 30 + [""] * 30 + FORGED + [elsewhere, wrong_kind]
    before = await places(runtime, event_id)
    async with serving(runtime) as host:
        answers = await asyncio.gather(*(knock(host, event_id, t) for t in knocks))
        got_in = [
            (repr(t)[:12], code, heard[0]["type"])
            for t, (code, heard) in zip(knocks, answers, strict=True)
            if heard
        ]
        after = await places(runtime, event_id)
        assert not got_in, (f"{len(got_in)} got in, {after[0] - before[0]} new entries", got_in)
        assert [code for code, _ in answers] == [4401] * len(knocks)
        assert after == before

        # The door still opens for the token of a guarded join.
        code, heard = await knock(host, event_id, honest["queue_token"], within=0.5)
        assert heard and heard[0]["type"] == "status", (code, heard)
        assert heard[0]["number"] == honest["number"]
    assert await places(runtime, event_id) == before


async def test_an_address_past_its_join_limit_gets_no_place_over_the_socket(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    """An address the HTTP join refuses (429) gets nothing from the socket.

    Old code: while the address's HTTP joins got 429, each of its tokenless
    sockets was given a new place (``AssertionError: 20 new entries``) and was
    admitted like any fan.
    """
    event_id = (await make_event())["id"]
    runtime.guard.joins_per_minute = 2
    try:
        fans = [await client.post(f"/api/events/{event_id}/queue") for _ in range(2)]
        assert [r.status_code for r in fans] == [201, 201]
        refused = await client.post(f"/api/events/{event_id}/queue")
        assert refused.status_code == 429
        before = await places(runtime, event_id)
        async with serving(runtime) as host:  # the sockets come from 127.0.0.1 too
            answers = await asyncio.gather(*(knock(host, event_id, None) for _ in range(20)))
            after = await places(runtime, event_id)
            assert after == before, f"{after[0] - before[0]} new entries"
            assert all(code == 4401 and not heard for code, heard in answers), answers
            ev = await runtime.events.get(event_id)
            await runtime.queue.admit(ev)
            # The fans who joined over HTTP follow their places as before.
            for r in fans:
                code, heard = await knock(host, event_id, r.json()["queue_token"], within=0.5)
                assert heard and heard[0]["type"] in ("status", "admitted"), (code, heard)
        assert await places(runtime, event_id) == before
    finally:
        runtime.guard.joins_per_minute = 0
