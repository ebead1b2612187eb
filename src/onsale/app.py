"""The ASGI application: routes, error handling, and the runtime's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onsale import openapi, settings
from onsale.admin.door_routes import routes as door_admin_routes
from onsale.admin.routes import routes as admin_routes
from onsale.checkout.routes import routes as checkout_routes
from onsale.drain import Drain, connected_fans
from onsale.errors import Unauthorized
from onsale.http import (
    JSON,
    HotRoutes,
    classify,
    http_exception,
    runtime_of,
    same_secret,
    token_of,
)
from onsale.inventory.routes import hot_routes
from onsale.inventory.routes import routes as inventory_routes
from onsale.monitoring import exposition, logs
from onsale.monitoring.middleware import RequestMonitor
from onsale.queue.routes import routes as queue_routes
from onsale.queue.ws import routes as ws_routes
from onsale.runtime import Runtime
from onsale.tickets.routes import routes as door_routes
from onsale.web.privacy import routes as privacy_routes
from onsale.web.routes import routes as web_routes


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    if request.app.state.drain.draining:
        # SIGTERM arrived (onsale.drain): the balancer must stop sending.
        return JSON({"status": "draining", "checks": {}}, status_code=503)
    rt = runtime_of(request)
    checks: dict[str, str] = {}
    try:
        await rt.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = "unavailable" if classify(exc) else "error"
    try:
        async with rt.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = "unavailable" if classify(exc) else "error"
    ready = all(v == "ok" for v in checks.values())
    return JSON(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers={} if ready else {"Retry-After": "2"},
    )


async def openapi_json(request: Request) -> Response:
    return JSON(openapi.spec())


async def metrics(request: Request) -> Response:
    """The scrape; with ``ONSALE_METRICS_TOKEN`` set, for its bearer only (the
    figures say how each sale goes, and the scrape costs database reads)."""
    rt = runtime_of(request)
    expected = rt.settings.metrics_token
    if expected and not same_secret(token_of(request), expected.reveal()):
        raise Unauthorized("The metrics token is required")
    body = await exposition.render(rt.collector)
    return Response(body, media_type=exposition.CONTENT_TYPE)


def create_app(
    config: settings.Settings | None = None, runtime: Runtime | None = None
) -> Starlette:
    """The application. With ``runtime`` given (tests), it is used as it is;
    otherwise the lifespan starts one from ``config`` and stops it at the end."""
    cfg = config or settings.from_env()
    drain = Drain.of(cfg)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if runtime is not None:
            app.state.runtime = runtime
            yield
            return
        logs.configure(cfg.log_level)
        started = await Runtime.start(cfg)
        app.state.runtime = started
        # What start-up allocated (modules, settings, scripts, pools) lives as
        # long as the process: kept out of the collector's full passes, which
        # otherwise walk it again and again during a sale (pauses of up to
        # ~120 ms measured on holds; p99 76 -> 22 ms with it frozen).
        gc.collect()
        gc.freeze()
        undo = drain.install(lambda: connected_fans(started.fanout), asyncio.get_running_loop())
        try:
            yield
        finally:
            if undo is not None:
                undo()
            await started.stop()

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/openapi.json", openapi_json),
        Route("/metrics", metrics),
        *admin_routes,
        *door_admin_routes,
        *door_routes,
        *queue_routes,
        *inventory_routes,
        *checkout_routes,
        *ws_routes,
        *privacy_routes,
        *web_routes,
    ]
    app = Starlette(
        routes=routes,
        # Request ids, metrics and error answers around everything; the hot
        # routes (holds) served innermost, before the router, so that every
        # middleware sees them (HotRoutes stays last: test_hot_route.py).
        middleware=[Middleware(RequestMonitor), Middleware(HotRoutes, hot=hot_routes)],
        exception_handlers={HTTPException: http_exception},
        lifespan=lifespan,
    )
    app.state.drain = drain
    if runtime is not None:
        app.state.runtime = runtime
    return app
