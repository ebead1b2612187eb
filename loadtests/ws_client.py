"""One client process of bench_ws.py: joins its share of the fans over HTTP,
opens their websockets and counts what they receive (ws_tally.py), then
reports to the parent over a pipe: "ready" after the ramp, "done" after the
window the parent names."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import time
from collections.abc import Coroutine
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import quote

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

import procstat
from ws_tally import Plan, Tally

JOIN_ATTEMPTS = 3
JOIN_TIMEOUT_SECONDS = 30.0
CLOSE_SECONDS = 20.0


def raise_nofile() -> int:
    """Raise this process' open-file limit to the hard limit; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def own_cpu_seconds() -> float:
    return procstat.cpu_seconds([os.getpid()])


def recv(conn: Connection, timeout: float) -> Any:
    """The next message on ``conn``, or None after ``timeout`` or at EOF."""
    try:
        return conn.recv() if conn.poll(max(timeout, 0.0)) else None
    except (EOFError, OSError):
        return None


class JoinRefused(Exception):
    pass


class Joiner:
    """Joins fans over one keep-alive HTTP/1.1 connection, one at a time.

    Plain asyncio streams: httpx's connection pool costs the client some 20 ms
    of CPU per join with 200 connections, which would starve the server of
    the machine's CPU during the ramp."""

    def __init__(self, host: str, port: int, event_id: str) -> None:
        self.host, self.port = host, port
        self.request = (
            f"POST /api/events/{event_id}/queue HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def join(self) -> str:
        """A new queue token. Raises JoinRefused, OSError, TimeoutError."""
        status = 0
        for attempt in range(JOIN_ATTEMPTS):
            try:
                async with asyncio.timeout(JOIN_TIMEOUT_SECONDS):
                    status, body = await self._post()
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                self.close()  # e.g. the server ended an idle keep-alive connection
                if attempt == JOIN_ATTEMPTS - 1:
                    raise
                continue
            if status in (200, 201):
                return str(json.loads(body)["queue_token"])
            await asyncio.sleep(0.5 * (attempt + 1))
        raise JoinRefused(f"HTTP {status}")

    async def _post(self) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(self.request)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        length = next(
            (int(line[15:]) for line in head.split("\r\n") if line.startswith("content-length:")),
            0,
        )
        body = await reader.readexactly(length)
        if "connection: close" in head:
            self.close()
        return int(head.split(" ", 2)[1]), body

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


# Handshakes a fan tries before giving up (1 s, then 2 s apart).
CONNECT_ATTEMPTS = 3


async def _open(plan: Plan, joiner: Joiner, tally: Tally) -> ClientConnection | None:
    """Join one fan and open their websocket; None (and counted) on failure."""
    try:
        token = await joiner.join()
    except (OSError, TimeoutError, JoinRefused, KeyError, ValueError) as exc:
        tally.failures[f"join: {type(exc).__name__} {exc}"[:120]] += 1
        return None
    uri = f"{plan.ws_url}/ws/events/{plan.event_id}/queue?token={quote(token)}"
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return await connect(
                uri,
                compression=None,
                max_queue=4,
                ping_interval=None,
                open_timeout=30,
                close_timeout=5,
                proxy=None,
                user_agent_header=None,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            # A fan's page tries again with the same token, a little later.
            last = attempt == CONNECT_ATTEMPTS
            kind = "connect" if last else "connect (tried again)"
            tally.failures[f"{kind}: {type(exc).__name__} {exc}"[:120]] += 1
            if not last:
                await asyncio.sleep(attempt)
    return None


async def _fan(plan: Plan, joiners: asyncio.Queue[Joiner], tally: Tally) -> None:
    """One fan: join, connect, then read until the socket closes."""
    joiner = await joiners.get()  # at most plan.concurrency fans join at once
    try:
        ws = await _open(plan, joiner, tally)
    finally:
        joiners.put_nowait(joiner)
    tally.settle()
    if ws is None:
        return
    tally.connected += 1
    tally.open_now += 1
    tally.sockets.add(ws)
    final = False
    try:
        async for raw in ws:
            final = tally.record(raw, time.time()) or final
    except ConnectionClosed:
        pass
    finally:
        tally.open_now -= 1
        tally.sockets.discard(ws)
    if not tally.stopping:
        tally.server_closes[str(ws.close_code)] += 1
        tally.lost_final_all_run += not final


async def _window(plan: Plan, conn: Connection, tally: Tally) -> None:
    """Report the ramp, wait for the window the parent names, measure it."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(tally.ramp_done.wait(), plan.ramp_seconds)
    conn.send({"phase": "ready", **tally.ramp_report()})
    window = await asyncio.to_thread(recv, conn, plan.lifetime_seconds)
    if not window:
        return
    tally.t_start, tally.t_stop = window
    await asyncio.sleep(max(tally.t_start - time.time(), 0.0))
    tally.open_at_start, cpu0 = tally.open_now, own_cpu_seconds()
    await asyncio.sleep(max(tally.t_stop - time.time(), 0.0))
    tally.cpu_window = own_cpu_seconds() - cpu0


async def _close_all(tally: Tally, tasks: list[asyncio.Task[None]]) -> None:
    tally.stopping = True
    closing = [ws.close() for ws in list(tally.sockets)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), CLOSE_SECONDS)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _client(plan: Plan, conn: Connection) -> dict[str, Any]:
    tally = Tally(plan.fans)
    url = httpx.URL(plan.url)
    joiners: asyncio.Queue[Joiner] = asyncio.Queue()
    for _ in range(plan.concurrency):
        joiners.put_nowait(Joiner(url.host, url.port or 80, plan.event_id))
    tasks = [asyncio.create_task(_fan(plan, joiners, tally)) for _ in range(plan.fans)]
    try:
        async with asyncio.timeout(plan.lifetime_seconds):
            await _window(plan, conn, tally)
    finally:
        await _close_all(tally, tasks)
        while not joiners.empty():
            joiners.get_nowait().close()
    return tally.report()


def _run_loop(coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run on uvloop when it is installed (less client CPU), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def client_process(plan: Plan, conn: Connection) -> None:
    raise_nofile()
    try:
        report = _run_loop(_client(plan, conn))
    except Exception as exc:  # reported to the parent, not lost in a traceback
        report = {"error": repr(exc)}
    report["cpu_all_run"] = own_cpu_seconds()
    with contextlib.suppress(OSError):
        conn.send({"phase": "done", **report})
    conn.close()
