"""``WS /ws/events/{id}/queue?token=...``: the waiting room pushed live.

Close codes: 4401 bad token, 4404 unknown event (the socket is accepted first,
so that the client sees the code and not an HTTP 403 from the handshake).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from onsale.errors import Forbidden, NotFound, Unauthorized
from onsale.http import runtime_of
from onsale.queue.fanout import Fan, stop_pump
from onsale.queue.service import status_json

CLOSE_BAD_TOKEN = 4401
CLOSE_UNKNOWN_EVENT = 4404


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the fan sends, until they go."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def queue_socket(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):  # the fan went away: nothing to answer
        await _serve(websocket)


async def _serve(websocket: WebSocket) -> None:
    rt = runtime_of(websocket)
    await websocket.accept()
    try:
        event = await rt.events.get(str(websocket.path_params["event_id"])[:64])
    except NotFound:
        await websocket.close(code=CLOSE_UNKNOWN_EVENT)
        return
    token = websocket.query_params.get("token")
    try:
        joined = await rt.queue.join(event, token)  # finds the place, or gives one back
    except (Unauthorized, Forbidden):
        await websocket.close(code=CLOSE_BAD_TOKEN)
        return
    status = await rt.queue.status(event, joined.queue_token)
    if status.state in ("admitted", "closed"):
        last = await rt.queue.admitted_message(event, joined.entry)
        await websocket.send_text(last)
        await websocket.close()
        return
    fan = Fan(joined.entry, joined.joined.number, websocket.send_text)
    first = {"type": "status", **status_json(status)}
    await websocket.send_text(json.dumps(first, separators=(",", ":")))
    rt.fanout.add(event, fan)
    pump = fan.task = asyncio.create_task(fan.pump())
    drain = asyncio.create_task(_drain(websocket))
    server_ends = False
    try:
        await asyncio.wait({pump, drain}, return_when=asyncio.FIRST_COMPLETED)
        # Decided before anything is cancelled: the server ends the talk (last
        # message sent, or the fan cut off), so it sends a proper close frame.
        server_ends = pump.done() and not drain.done()
    finally:
        rt.fanout.remove(event.id, fan)
        fan.closed = True
        await stop_pump(pump)
        await stop_pump(drain)
    if server_ends:
        await websocket.close()


routes = [WebSocketRoute("/ws/events/{event_id}/queue", queue_socket)]
