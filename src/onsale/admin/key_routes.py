"""HTTP edge of venue keys: a venue rotates, lists and revokes its own keys
with a working key; the platform token re-issues a venue's key (a key lost,
or leaked: with ``revoke_others`` every other key stops at once)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.admin.access import require, require_platform
from onsale.admin.key_policy import StoredKey
from onsale.admin.roles import Action
from onsale.errors import Unauthorized
from onsale.http import JSON, path_param, read_json, runtime_of, token_of


async def caller_key(request: Request) -> StoredKey:
    """The working venue key of the request, whatever its role. Raises
    Unauthorized. Routes use ``admin.access.require``, which adds the role."""
    token = token_of(request)
    if token is None:
        raise Unauthorized("A venue API key is required")
    return await runtime_of(request).venues.keys.authenticate(token)


async def rotate_key(request: Request) -> Response:
    rt = runtime_of(request)
    caller = await require(request, Action.KEYS)
    body = await read_json(request, rt.settings.max_body_bytes, empty={})
    return JSON(await rt.venues.keys.rotate(caller.key, body, actor=caller.actor), status_code=201)


async def list_keys(request: Request) -> Response:
    caller = await require(request, Action.KEYS)
    return JSON(await runtime_of(request).venues.keys.list_keys(caller.key))


async def revoke_key(request: Request) -> Response:
    caller = await require(request, Action.KEYS)
    await runtime_of(request).venues.keys.revoke(
        caller.key, path_param(request, "key_id"), actor=caller.actor
    )
    return Response(status_code=204)


async def reissue_key(request: Request) -> Response:
    rt = runtime_of(request)
    require_platform(request)
    body = await read_json(request, rt.settings.max_body_bytes, empty={})
    venue_id = path_param(request, "venue_id")
    return JSON(await rt.venues.keys.reissue(venue_id, body), status_code=201)


routes = [
    Route("/api/admin/venue-keys", list_keys, methods=["GET"]),
    Route("/api/admin/venue-keys/rotate", rotate_key, methods=["POST"]),
    Route("/api/admin/venue-keys/{key_id}", revoke_key, methods=["DELETE"]),
    Route("/api/admin/venues/{venue_id}/keys", reissue_key, methods=["POST"]),
]
