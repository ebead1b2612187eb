"""``WS /ws/events/{id}/queue?token=...``: the waiting room pushed live.

The socket follows the place a queue token names; it never makes one (I8:
a place is given only by ``POST .../queue``, behind the event's guards).

Close codes: 4401 no token or a bad one, 4404 unknown event (the socket is
accepted first, so that the client sees the code and not an HTTP 403 from the
handshake).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, cast

from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from onsale.errors import Forbidden, NotFound, Unauthorized, Unavailable
from onsale.http import classify, runtime_of
from onsale.queue import messages
from onsale.queue.fanout import Fan

CLOSE_BAD_TOKEN = 4401
CLOSE_UNKNOWN_EVENT = 4404
CLOSE_TRY_AGAIN = 1013  # RFC 6455 "Try Again Later"
CLOSE_SERVICE_RESTART = 1012  # this node is draining (onsale.drain): try another
log = logging.getLogger(__name__)


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the fan sends, until they go."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


class QueueSocket:
    """The endpoint as a plain ASGI app: the fan-out sends each status with
    the ``send`` it is given, without Starlette's per-message wrapper (the
    push pass sends one message per fan per second)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        try:
            with contextlib.suppress(WebSocketDisconnect):  # the fan went away: nothing to answer
                await _serve(websocket, send)
        except Exception as exc:
            # Redis or Postgres is down: the fan's page reconnects with the
            # same token (its place is kept); no traceback, no 1011.
            if not isinstance(classify(exc), Unavailable):
                raise
            log.warning("queue socket: %s", classify(exc))
            with contextlib.suppress(Exception):
                await websocket.close(code=CLOSE_TRY_AGAIN)


async def _serve(websocket: WebSocket, send: Send) -> None:
    rt = runtime_of(websocket)
    await websocket.accept()
    if websocket.app.state.drain.draining:
        # The balancer has not noticed yet: the fan's page reconnects at once,
        # through it, to another node.
        await websocket.close(code=CLOSE_SERVICE_RESTART)
        return
    token = websocket.query_params.get("token")
    if not token:
        # No token, no place: a new place is given only by the HTTP join, behind
        # the event's proof of work and the per-address limit (I8). Refused
        # before any lookup: a flood of them costs Redis nothing.
        await websocket.close(code=CLOSE_BAD_TOKEN)
        return
    try:
        event = await rt.events.get(str(websocket.path_params["event_id"])[:64])
    except NotFound:
        await websocket.close(code=CLOSE_UNKNOWN_EVENT)
        return
    try:
        # The place the token names (a token is proof of a guarded join), or
        # the same place given back when Redis lost it: never a new entry.
        joined = await rt.queue.join(event, token)
    except (Unauthorized, Forbidden):
        await websocket.close(code=CLOSE_BAD_TOKEN)
        return
    status = await rt.queue.status(event, joined.queue_token)
    if status.state in ("admitted", "closed"):
        last = await rt.queue.admitted_message(event, joined.entry)
        await websocket.send_text(last)
        await websocket.close()
        return
    await websocket.send_text(messages.encode(messages.status(status)))

    def push(text: str) -> Coroutine[Any, Any, None]:
        # ASGI servers' send is a coroutine function (typed as Awaitable).
        return cast(Coroutine[Any, Any, None], send({"type": "websocket.send", "text": text}))

    fan = Fan(joined.entry, joined.joined.number, push)
    rt.fanout.add(event, fan)
    drain = asyncio.create_task(_drain(websocket))
    try:
        await asyncio.wait({fan.done, drain}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        rt.fanout.remove(event.id, fan)
        # The server ends the talk (last message sent, or the fan cut off):
        # decided before anything is cancelled, it sends a proper close frame.
        server_ends = fan.done.done() and not drain.done()
        fan.end()
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await drain
    if server_ends:
        await websocket.close(code=fan.close_code)


routes = [WebSocketRoute("/ws/events/{event_id}/queue", QueueSocket())]
