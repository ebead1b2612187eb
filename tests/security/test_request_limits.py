"""What one connection may cost the server: a request head of bounded size,
read within a bounded time, and small websocket messages.

Before (uvicorn's defaults, no options set):
- a request head of 32 MB was read whole and answered (``200``);
- a client sending its head one byte a second held its connection as long as
  it liked (still open after the bound: ``connection still open after 5.0 s``),
  and so did one that sent nothing at all;
- a websocket message of up to 16 MiB was read (a 1 MiB one left the socket
  open: ``TimeoutError`` waiting for the close).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from onsale.settings import Settings
from tests import live_server
from tests.security._live import open_event

HEAD_TIMEOUT = 2.0


@pytest.fixture
def server(settings: Settings, runtime: Any) -> Iterator[live_server.Server]:
    with live_server.running(settings, ONSALE_HEADER_TIMEOUT_SECONDS=str(HEAD_TIMEOUT)) as [s]:
        yield s


def _connect(server: live_server.Server) -> socket.socket:
    host, port = server.host.split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    """What the server sends until it closes (or a reset, which counts as closed)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def test_a_huge_request_head_is_refused(server: live_server.Server) -> None:
    sock = _connect(server)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (32 * 1024 * 1024) + b"\r\n\r\n"
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(head)  # may be refused before the end of it
    answer = _read_all(sock)
    sock.close()
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:200]
    # The bound is on the head, however it arrives: in one read too.
    one_read = httpx.get(f"{server.url}/healthz", headers={"X-Big": "a" * 70_000})
    assert one_read.status_code == 431
    # A head of a normal size, even a rich one, is still served.
    big_but_fine = {f"X-Header-{i}": "v" * 200 for i in range(40)}
    assert httpx.get(f"{server.url}/healthz", headers=big_but_fine).status_code == 200


def test_a_trickled_request_head_is_cut_off_and_a_slow_body_is_not(
    server: live_server.Server,
) -> None:
    # A slow client whose head is complete is not concerned: its body may come
    # later than the head's bound, and the connection then serves a second
    # request (keep-alive).
    sock = _connect(server)
    sock.sendall(
        b"POST /api/events/ev_nope/queue HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n"
    )
    time.sleep(HEAD_TIMEOUT + 1)
    sock.sendall(b"{}")
    first = sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 404"), first[:200]
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    sock.close()

    # One byte a second of a head that never ends.
    sock = _connect(server)
    sock.settimeout(1)
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    closed, answer = False, b""
    while time.monotonic() - started < HEAD_TIMEOUT + 3:
        try:
            sock.sendall(b"X")
            answer = sock.recv(65536)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            answer = b""
        closed = True  # whatever came back (a 408 or nothing), the server is done
        break
    elapsed = time.monotonic() - started
    sock.close()
    assert closed, f"connection still open after {elapsed:.1f} s"
    assert elapsed < HEAD_TIMEOUT + 2
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:200]

    # A connection that never sends a byte is closed too (uvicorn armed no
    # timer before the first request).
    sock = _connect(server)
    started = time.monotonic()
    assert _read_all(sock) == b""
    assert time.monotonic() - started < HEAD_TIMEOUT + 2
    sock.close()


def _fan_socket_url(server: live_server.Server) -> str:
    """The waiting-room socket of a fan who joined an event's pre-queue."""
    with httpx.Client(base_url=server.url, timeout=10) as api:
        event_id = open_event(api, opens_in=3600, prequeue_in=-60)
        token = api.post(f"/api/events/{event_id}/queue").json()["queue_token"]
    return f"ws://{server.host}/ws/events/{event_id}/queue?token={token}"


async def _big_ws_message(server: live_server.Server, size: int) -> int | None:
    """Send one text message of ``size`` bytes on a fan's socket; the close
    code if the server closes within 3 s."""
    url = await asyncio.to_thread(_fan_socket_url, server)
    async with connect(url, max_size=2**20) as ws:
        json.loads(await asyncio.wait_for(ws.recv(), 5))  # the first status
        try:
            await ws.send("x" * size)
            await asyncio.wait_for(ws.wait_closed(), 3)
        except ConnectionClosed:
            pass
        return ws.close_code


async def test_a_big_websocket_message_closes_the_socket(server: live_server.Server) -> None:
    assert await _big_ws_message(server, 1024 * 1024) == 1009  # message too big
