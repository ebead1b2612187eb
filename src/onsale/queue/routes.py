"""HTTP edge of the waiting room (API.md, "The waiting room")."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.http import JSON, path_param, read_json, runtime_of, token_of
from onsale.queue.guard import new_challenge
from onsale.queue.messages import standing


async def join(request: Request) -> Response:
    rt = runtime_of(request)
    event = await rt.events.get(path_param(request, "event_id"))
    body = await read_json(request, rt.settings.max_body_bytes, empty={})
    token = token_of(request)
    if token is None:  # a new place: the door's checks apply
        await rt.guard.limit_joins(request.client.host if request.client else "unknown")
        await rt.guard.check_pow(event.id, event.spec.admission.pow_difficulty, body)
    result = await rt.queue.join(event, token)
    status = await rt.queue.status(event, result.queue_token)
    body = {"queue_token": result.queue_token, "entry_id": result.entry, **standing(status)}
    return JSON(body, status_code=201 if result.joined.new else 200)


async def status(request: Request) -> Response:
    rt = runtime_of(request)
    event = await rt.events.get(path_param(request, "event_id"))
    token = token_of(request)
    fan = await rt.queue.status(event, token)
    body = standing(fan)
    if fan.state == "admitted" and fan.session_expires_ms:
        entry = rt.queue.entry_of(event.id, token)
        access, expires = rt.queue.access_token(event, entry, fan.session_expires_ms)
        body["access_token"] = access
        body["access_expires_at"] = (
            datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")
        )
    return JSON(body)


async def leave(request: Request) -> Response:
    rt = runtime_of(request)
    event = await rt.events.get(path_param(request, "event_id"))
    await rt.queue.leave(event, token_of(request))
    return Response(status_code=204)


async def presence(request: Request) -> Response:
    """An admitted shopper's page says they are still there (every few
    seconds while it is open): their slot and their claim on the stock stay."""
    rt = runtime_of(request)
    event = await rt.events.get(path_param(request, "event_id"))
    await rt.queue.presence(event, token_of(request))
    return Response(status_code=204)


async def challenge(request: Request) -> Response:
    """A proof-of-work challenge for the next join (events that ask for one)."""
    rt = runtime_of(request)
    event = await rt.events.get(path_param(request, "event_id"))
    difficulty = event.spec.admission.pow_difficulty
    return JSON(
        {
            "challenge": new_challenge(rt.guard.secret, event.id, time.time()),
            "difficulty": difficulty,
            "algorithm": "sha256(challenge + ':' + nonce) "
            "has at least `difficulty` leading zero bits",
        }
    )


async def draw(request: Request) -> Response:
    """The pre-queue draw: commitment now, seed and order once drawn."""
    rt = runtime_of(request)
    event = await rt.events.get(path_param(request, "event_id"))
    return JSON(await rt.queue.reveal(event))


routes = [
    Route("/api/events/{event_id}/queue", join, methods=["POST"]),
    Route("/api/events/{event_id}/queue", leave, methods=["DELETE"]),
    Route("/api/events/{event_id}/queue/status", status, methods=["GET"]),
    Route("/api/events/{event_id}/queue/challenge", challenge, methods=["GET"]),
    Route("/api/events/{event_id}/presence", presence, methods=["POST"]),
    Route("/api/events/{event_id}/draw", draw, methods=["GET"]),
]
