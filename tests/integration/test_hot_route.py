"""The hold's hot route is served by the innermost middleware
(``onsale.http.HotRoutes``), so every middleware of the app sees holds.

Before issue 12 the hot route was dispatched from inside
``monitoring/middleware.RequestMonitor``: a middleware placed after it never
saw a hold (the negative control below shows what a middleware inside the
dispatcher misses).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from onsale.app import create_app
from onsale.http import HotEndpoint, HotRoute, HotRoutes
from onsale.inventory.routes import hot_routes
from onsale.monitoring.middleware import RequestMonitor
from onsale.runtime import Runtime
from tests.conftest import Admit, MakeEvent, auth


class Recorder:
    """A middleware that writes down every request it sees and its status."""

    seen: list[tuple[str, str, int]]

    def __init__(self, app: ASGIApp, seen: list[tuple[str, str, int]]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def recording(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, recording)


def _counting(endpoint: HotEndpoint, calls: list[str]) -> HotEndpoint:
    async def counted(scope: Scope, receive: Receive, params: dict[str, str]) -> Any:
        calls.append(scope["path"])
        return await endpoint(scope, receive, params)

    return counted


def _with_counted_hot_routes(app: Starlette, calls: list[str]) -> None:
    """The app's HotRoutes, its endpoints counting the requests they serve
    (the stack is built at the first request: changed before it)."""
    counted = [HotRoute(h.route, h.method, _counting(h.endpoint, calls)) for h in hot_routes]
    app.user_middleware[-1] = Middleware(HotRoutes, hot=counted)


@pytest_asyncio.fixture(loop_scope="session")
async def app(runtime: Runtime) -> AsyncIterator[Starlette]:
    yield create_app(runtime.settings, runtime=runtime)


async def _hold(app: Starlette, make_event: MakeEvent, admitted: Admit) -> tuple[str, int]:
    event = await make_event()
    access = await admitted(event["id"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onsale.test") as c:
        path = f"/api/events/{event['id']}/holds"
        r = await c.post(path, json={"section": "FLOOR", "quantity": 1}, headers=auth(access))
        # Another request, served by the router.
        await c.get(f"/api/events/{event['id']}")
    return path, r.status_code


def test_the_hot_routes_are_served_innermost(app: Starlette) -> None:
    classes = [m.cls for m in app.user_middleware]
    assert classes == [RequestMonitor, HotRoutes]
    assert list(app.user_middleware[-1].kwargs["hot"]) == hot_routes


async def test_a_middleware_added_to_the_app_sees_the_holds(
    app: Starlette, make_event: MakeEvent, admitted: Admit
) -> None:
    seen: list[tuple[str, str, int]] = []
    calls: list[str] = []
    app.add_middleware(Recorder, seen=seen)  # Starlette puts it outside the others
    _with_counted_hot_routes(app, calls)
    path, status = await _hold(app, make_event, admitted)
    assert status == 201
    assert calls == [path]  # served by the hot route ...
    assert ("POST", path, 201) in seen  # ... and seen by the middleware
    assert len(seen) == 2


async def test_negative_control_a_middleware_inside_the_dispatch_misses_the_holds(
    app: Starlette, make_event: MakeEvent, admitted: Admit
) -> None:
    """What every middleware after RequestMonitor suffered before: placed
    inside the hot dispatch, it sees the router's requests only."""
    seen: list[tuple[str, str, int]] = []
    calls: list[str] = []
    _with_counted_hot_routes(app, calls)
    app.user_middleware.append(Middleware(Recorder, seen=seen))
    path, status = await _hold(app, make_event, admitted)
    assert status == 201 and calls == [path]
    assert [s for s in seen if s[0] == "POST"] == []
    assert len(seen) == 1
