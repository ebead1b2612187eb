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
from tests.conftest import Admit, MakeEvent, auth

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
    ("get", "/e/{}"),
    ("get", "/admin"),
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
# Every field API.md writes, by the schema of /openapi.json that carries it
# (a dotted path; "[]" steps into a list's items).
API_FIELDS = {
    "VenueRequest": {"name", "slug", "timezone"},
    "VenueCreated": {"id", "slug", "api_key"},
    "EventDefinition": {
        "id", "name", "starts_at", "sale.prequeue_opens_at", "sale.opens_at",
        "sale.closes_at", "admission.rate_per_minute", "admission.max_active",
        "admission.session_seconds", "hold_seconds", "limits.per_order", "limits.per_buyer",
        "categories[].code", "categories[].name", "categories[].price_cents",
        "categories[].fee_cents", "categories[].currency", "sections[].code",
        "sections[].kind", "sections[].category", "sections[].capacity",
        "sections[].rows[].row", "sections[].rows[].seats",
    },
    "Event": {
        "id", "name", "starts_at", "status", "sale.prequeue_opens_at", "sale.opens_at",
        "sale.closes_at", "categories[].code", "categories[].name",
        "categories[].price_cents", "categories[].fee_cents", "categories[].currency",
        "sections[].code", "sections[].kind", "sections[].category", "sections[].capacity",
        "sections[].available",
    },
    "Seats": {
        "event_id", "seats[].id", "seats[].section", "seats[].row", "seats[].number",
        "seats[].state",
    },
    "QueueJoined": {"queue_token", "state", "position"},
    "QueueStatus": {
        "state", "position", "ahead", "eta_seconds", "access_token", "access_expires_at",
    },
    "HoldRequest": {"seats", "section", "quantity", "best_available"},
    "Hold": {"hold_id", "seats", "section", "quantity", "expires_at"},
    "CheckoutRequest": {"buyer.email", "buyer.name", "payment.provider", "payment.card_number"},
    "Order": {
        "order_id", "order_token", "status", "total_cents", "currency", "tickets[].ticket_id",
        "tickets[].section", "tickets[].seat", "tickets[].price_cents", "tickets[].fee_cents",
        "tickets[].code",
    },
    "Stats": {
        "capacity", "sold", "held", "available", "queue.waiting", "queue.admitted",
        "queue.active", "orders", "revenue_cents",
    },
    "Orders": {
        "orders[].order_id", "orders[].status", "orders[].channel", "orders[].buyer.email",
        "orders[].buyer.name", "orders[].total_cents", "orders[].currency",
        "orders[].created_at", "orders[].tickets[].ticket_id", "orders[].tickets[].section",
        "orders[].tickets[].seat", "orders[].tickets[].price_cents",
        "orders[].tickets[].fee_cents", "orders[].tickets[].status",
    },
}  # fmt: skip
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


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The object schema behind refs, nullables and one-level allOfs."""
    if "$ref" in schema:
        return _resolve(spec, spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    for key in ("anyOf", "allOf"):
        if key in schema:
            merged: dict[str, Any] = {"properties": {}}
            for part in schema[key]:
                part = _resolve(spec, part)
                if part.get("type") != "null":
                    merged = {
                        **part,
                        "properties": {**merged["properties"], **part.get("properties", {})},
                    }
            return merged
    return schema


def _field(spec: dict[str, Any], schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    for step in path.split("."):
        schema = _resolve(spec, schema)
        name, lists = step.rstrip("[]"), step.count("[]")
        if name not in schema.get("properties", {}):
            return None
        schema = schema["properties"][name]
        for _ in range(lists):
            schema = _resolve(spec, schema)["items"]
    return schema


async def test_openapi_carries_every_field_of_api_md(client: httpx.AsyncClient) -> None:
    spec = await spec_of(client)
    missing = {
        (name, path)
        for name, paths in API_FIELDS.items()
        for path in paths
        if _field(spec, {"$ref": f"#/components/schemas/{name}"}, path) is None
    }
    assert missing == set()
    # Each body is where its operation says it is.
    listed = operations(spec)
    for key, name in (
        (("get", "/api/events/{}"), "Event"),
        (("post", "/api/holds/{}/checkout"), "Order"),
        (("get", "/api/admin/events/{}/stats"), "Stats"),
    ):
        (ok,) = [s for s in listed[key]["responses"] if s.startswith("2")][:1]
        body = listed[key]["responses"][ok]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{name}"}, key
    socket = spec["x-websockets"]["/ws/events/{event_id}/queue"]
    assert set(socket["messages"]) == {"status", "admitted", "closed"}
    assert {"4401", "4404"} <= set(socket["close_codes"])


def _undocumented(spec: dict[str, Any], name: str, body: Any, at: str = "") -> set[str]:
    """Fields of a served ``body`` that schema ``name`` does not name."""
    schema = _resolve(spec, {"$ref": f"#/components/schemas/{name}"} if name else {})
    return _walk(spec, schema, body, at)


def _walk(spec: dict[str, Any], schema: dict[str, Any], body: Any, at: str) -> set[str]:
    schema = _resolve(spec, schema)
    if isinstance(body, list):
        return set().union(*(_walk(spec, schema.get("items", {}), b, f"{at}[]") for b in body))
    if not isinstance(body, dict):
        return set()
    props = schema.get("properties", {})
    out = {f"{at}.{k}" for k in body if k not in props}
    for k, v in body.items():
        if k in props:
            out |= _walk(spec, props[k], v, f"{at}.{k}")
    return out


async def test_served_answers_use_only_documented_fields(
    client: httpx.AsyncClient, venue: dict[str, str], make_event: MakeEvent, admitted: Admit
) -> None:
    spec = await spec_of(client)
    event = await make_event()
    ev, key = event["id"], auth(venue["api_key"])
    joined = (await client.post(f"/api/events/{ev}/queue")).json()
    status = (
        await client.get(f"/api/events/{ev}/queue/status", headers=auth(joined["queue_token"]))
    ).json()
    access = await admitted(ev)
    hold = (
        await client.post(
            f"/api/events/{ev}/holds", headers=auth(access), json={"seats": ["BALC-A-1"]}
        )
    ).json()
    order = (
        await client.post(
            f"/api/holds/{hold['hold_id']}/checkout",
            headers={**auth(access), "Idempotency-Key": "contract-1"},
            json={
                "buyer": {"email": "a@example.org", "name": "A"},
                "payment": {"provider": "test", "card_number": "4242424242424242"},
            },
        )
    ).json()
    answers = {
        "EventDefinition": event,
        "Event": (await client.get(f"/api/events/{ev}")).json(),
        "Seats": (await client.get(f"/api/events/{ev}/seats")).json(),
        "QueueJoined": joined,
        "QueueStatus": status,
        "Hold": hold,
        "Order": order,
        "Stats": (await client.get(f"/api/admin/events/{ev}/stats", headers=key)).json(),
        "Orders": (await client.get(f"/api/admin/events/{ev}/orders", headers=key)).json(),
        "Draw": (await client.get(f"/api/events/{ev}/draw")).json(),
    }
    assert "order_id" in order, order
    undocumented = {name: _undocumented(spec, name, body) for name, body in answers.items()}
    assert {k: v for k, v in undocumented.items() if v} == {}
