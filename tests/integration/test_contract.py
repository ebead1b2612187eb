"""The machine-readable contract (``/openapi.json``) against API.md and against
the routes the application really serves; health and readiness."""

from __future__ import annotations

import re
from typing import Any

import httpx
import redis.asyncio as aredis
from starlette.routing import Route

from onsale import db
from onsale.app import create_app
from onsale.runtime import Runtime

# Every HTTP operation API.md names (path parameters as {}), plus leaving the
# queue, which the waiting room offers to free a shopper slot.
API_OPERATIONS = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("post", "/api/admin/venues"),
    ("post", "/api/admin/events"),
    ("get", "/api/admin/events"),
    ("get", "/api/admin/events/{}"),
    ("patch", "/api/admin/events/{}"),
    ("get", "/api/admin/events/{}/stats"),
    ("get", "/api/admin/events/{}/orders"),
    ("get", "/api/admin/events/{}/orders.csv"),
    ("post", "/api/admin/events/{}/boxoffice"),
    ("post", "/api/admin/orders/{}/refund"),
    ("get", "/api/events/{}"),
    ("get", "/api/events/{}/seats"),
    ("post", "/api/events/{}/queue"),
    ("delete", "/api/events/{}/queue"),
    ("get", "/api/events/{}/queue/status"),
    ("post", "/api/events/{}/holds"),
    ("delete", "/api/holds/{}"),
    ("post", "/api/holds/{}/checkout"),
    ("get", "/api/orders/{}"),
}
# The error codes of API.md's table.
API_ERROR_CODES = {
    "invalid_request",
    "unauthorized",
    "token_expired",
    "forbidden",
    "not_found",
    "seats_unavailable",
    "hold_expired",
    "sale_not_open",
    "sold_out",
    "limit_exceeded",
    "idempotency_conflict",
    "payment_declined",
    "payload_too_large",
    "validation_error",
    "rate_limited",
    "unavailable",
}
# Endpoints that read a JSON body (400 not JSON, 413 too large).
BODY_OPERATIONS = {
    ("post", "/api/admin/venues"),
    ("post", "/api/admin/events"),
    ("patch", "/api/admin/events/{}"),
    ("post", "/api/admin/events/{}/boxoffice"),
    ("post", "/api/events/{}/queue"),
    ("post", "/api/events/{}/holds"),
    ("post", "/api/holds/{}/checkout"),
}
# Statuses API.md names for one operation.
DOCUMENTED_STATUSES = {
    ("post", "/api/admin/venues"): {201, 401, 409, 422},
    ("post", "/api/admin/events"): {201, 401, 422},
    ("post", "/api/events/{}/queue"): {200, 201, 409},
    ("get", "/api/events/{}/queue/status"): {200, 401, 403},
    ("post", "/api/events/{}/holds"): {201, 401, 403, 409, 422},
    ("delete", "/api/holds/{}"): {204, 403, 404},
    ("post", "/api/holds/{}/checkout"): {200, 201, 402, 409, 422},
    ("get", "/api/orders/{}"): {200, 401, 403, 404},
    ("get", "/api/admin/events/{}"): {200, 401, 404},
    ("post", "/api/admin/events/{}/boxoffice"): {201, 402, 409, 422},
}
PARAM = re.compile(r"\{[^}]*\}")


def normalized(path: str) -> str:
    return PARAM.sub("{}", path)


async def spec_of(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    return body


def operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, normalized(path)): op
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    }


async def test_openapi_lists_every_operation_of_api_md(client: httpx.AsyncClient) -> None:
    spec = await spec_of(client)
    assert spec["openapi"].startswith("3.")
    listed = operations(spec)
    assert API_OPERATIONS - set(listed) == set()
    for path, methods in spec["paths"].items():
        params = PARAM.findall(path)
        for op in methods.values():
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            assert [f"{{{n}}}" for n in names] == params, (path, op)


async def test_openapi_and_the_served_routes_agree(runtime: Runtime) -> None:
    app = create_app(runtime.settings, runtime=runtime)
    served = {
        (method.lower(), normalized(route.path))
        for route in app.routes
        if isinstance(route, Route) and route.methods
        for method in route.methods
        if method != "HEAD"
    }
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://onsale.test"
    ) as client:
        listed = set(operations(await spec_of(client)))
    assert listed - served == set(), "documented but not served"
    api_served = {(m, p) for m, p in served if p.startswith("/api/")}
    assert api_served - listed == set(), "served but not documented"


async def test_openapi_statuses_and_error_schema(client: httpx.AsyncClient) -> None:
    spec = await spec_of(client)
    listed = operations(spec)
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    inner = error["properties"]["error"]
    assert set(inner["required"]) == {"code", "message", "details"}
    enum = set(inner["properties"]["code"]["enum"])
    assert API_ERROR_CODES - enum == set()
    # The codes the HTTP edge answers with for unknown routes and wrong methods.
    assert {"not_found", "method_not_allowed"} <= enum

    for key, statuses in DOCUMENTED_STATUSES.items():
        documented = {int(s) for s in listed[key]["responses"]}
        assert statuses - documented == set(), key
    for key in BODY_OPERATIONS:
        documented = {int(s) for s in listed[key]["responses"]}
        assert {400, 413} - documented == set(), key
    for (method, path), op in listed.items():
        statuses = {int(s) for s in op["responses"]}
        assert any(200 <= s < 300 for s in statuses), (method, path)
        if path.startswith("/api/"):
            assert 503 in statuses, (method, path)
        for status, answer in op["responses"].items():
            if int(status) >= 400:
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path)
        if op.get("security"):
            (scheme,) = op["security"][0]
            assert spec["components"]["securitySchemes"][scheme]["scheme"] == "bearer"


async def test_errors_the_edge_answers_are_in_the_enum(client: httpx.AsyncClient) -> None:
    enum = set(
        (await spec_of(client))["components"]["schemas"]["Error"]["properties"]["error"][
            "properties"
        ]["code"]["enum"]
    )
    for method, path in (("GET", "/nowhere"), ("PUT", "/healthz"), ("POST", "/api/orders/x")):
        r = await client.request(method, path)
        assert r.json()["error"]["code"] in enum, r.text


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "checks": {"redis": "ok", "postgres": "ok"}}
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")


async def test_readiness_is_503_when_a_backend_is_down(runtime: Runtime) -> None:
    """A Redis and a Postgres that nobody listens on (port 1)."""
    dead_redis = aredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    dead_pg = db.create_engine("postgresql://postgres@127.0.0.1:1/postgres")
    try:
        for redis_client, engine, down in (
            (dead_redis, runtime.engine, "redis"),
            (runtime.redis, dead_pg, "postgres"),
        ):
            rt = Runtime.build(runtime.settings, redis_client, engine)
            app = create_app(runtime.settings, runtime=rt)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
                r = await client.get("/readyz")
                assert r.status_code == 503, r.text
                assert r.json()["checks"][down] == "unavailable"
                assert r.headers["retry-after"].isdigit()
                r = await client.get("/healthz")
                assert r.status_code == 200
    finally:
        await dead_redis.aclose()
        await dead_pg.dispose()
