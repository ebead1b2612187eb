"""HTTP edge of the door: scans and the offline bundle (door key in
``Authorization``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale.http import JSON, read_json, runtime_of, token_of


async def scan(request: Request) -> Response:
    rt = runtime_of(request)
    scanner = await rt.door.scanner_for(token_of(request))
    body = await read_json(request, rt.settings.max_body_bytes)
    return JSON(await rt.door.scan(scanner, body))


async def bundle(request: Request) -> Response:
    rt = runtime_of(request)
    scanner = await rt.door.scanner_for(token_of(request))
    return JSON(await rt.door.bundle(scanner), headers={"Cache-Control": "no-store"})


routes = [
    Route("/api/door/scan", scan, methods=["POST"]),
    Route("/api/door/bundle", bundle, methods=["GET"]),
]
