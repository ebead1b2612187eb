"""Hostile input at every endpoint: whatever arrives, the answer is a 4xx with
the error body of API.md, never a 500, and nothing changes.

The fuzz tests run hypothesis in a worker thread and hand each request to the
session's event loop, where the client, Redis and Postgres connections live.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onsale import tokens
from onsale.payments import providers as payments
from onsale.queue.guard import solve
from onsale.runtime import Runtime
from tests.conftest import ADMIN_TOKEN, Admit, MakeEvent, auth, event_body
from tests.security.test_ws_backdoor import knock, places, serving

CARD = {"provider": "test", "card_number": "4242424242424242"}
BUYER = {"email": "fan@example.org", "name": "Camille"}
SECRET = b"test-secret-key"
LIMIT = 64 * 1024
SQLISH = "'; DROP TABLE tickets; --"
JSON_HEADERS = {"Content-Type": "application/json"}


# ------------------------------------------------------------------ helpers


def assert_error(r: httpx.Response, status: int | set[int], code: str | None = None) -> None:
    """A 4xx with exactly the error body of API.md."""
    statuses = {status} if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    assert isinstance(body["error"]["details"], dict)
    if code is not None:
        assert body["error"]["code"] == code, body


class Scene:
    """One open event with a fan holding a seat and a paid order: every kind of
    id and token the endpoints take."""

    def __init__(self, event: dict[str, Any], venue: dict[str, str]) -> None:
        self.event = event
        self.eid: str = event["id"]
        self.venue = venue
        self.key = venue["api_key"]
        self.access = ""
        self.hold_id = ""
        self.order: dict[str, Any] = {}

    def body_endpoints(self) -> list[tuple[str, str, dict[str, str]]]:
        """(method, path, headers) of every endpoint that reads a JSON body."""
        checkout_headers = {**auth(self.access), "Idempotency-Key": str(uuid.uuid4())}
        return [
            ("POST", "/api/admin/venues", auth(ADMIN_TOKEN)),
            ("POST", "/api/admin/events", auth(self.key)),
            ("PATCH", f"/api/admin/events/{self.eid}", auth(self.key)),
            ("POST", f"/api/admin/events/{self.eid}/boxoffice", auth(self.key)),
            ("POST", f"/api/events/{self.eid}/queue", {}),
            ("POST", f"/api/events/{self.eid}/holds", auth(self.access)),
            ("POST", f"/api/holds/{self.hold_id}/checkout", checkout_headers),
        ]


async def make_scene(
    client: httpx.AsyncClient, venue: dict[str, str], make_event: MakeEvent, admitted: Admit
) -> Scene:
    scene = Scene(await make_event(), venue)
    buyer_access = await admitted(scene.eid)
    r = await client.post(
        f"/api/events/{scene.eid}/holds", json={"seats": ["BALC-B-1"]}, headers=auth(buyer_access)
    )
    r = await client.post(
        f"/api/holds/{r.json()['hold_id']}/checkout",
        json={"buyer": BUYER, "payment": CARD},
        headers={**auth(buyer_access), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    scene.order = r.json()
    scene.access = await admitted(scene.eid)
    r = await client.post(
        f"/api/events/{scene.eid}/holds", json={"seats": ["BALC-A-1"]}, headers=auth(scene.access)
    )
    assert r.status_code == 201, r.text
    scene.hold_id = r.json()["hold_id"]
    return scene


async def snapshot(client: httpx.AsyncClient, runtime: Runtime, scene: Scene) -> Any:
    """Everything a refused request must leave as it was."""
    store = runtime.inventory.store
    stats = await client.get(f"/api/admin/events/{scene.eid}/stats", headers=auth(scene.key))
    events = await client.get("/api/admin/events", headers=auth(scene.key))
    counts = {
        table: f"SELECT count(*) FROM {table}"
        for table in ("venues", "events", "orders", "tickets")
    }
    # A declined card leaves a declined payment behind, and nothing else.
    counts["payments"] = "SELECT count(*) FROM payments WHERE status <> 'declined'"
    async with runtime.engine.connect() as conn:
        rows = {k: (await conn.execute(sa.text(q))).scalar_one() for k, q in counts.items()}
    figures = stats.json()
    queue = figures.pop("queue")
    return (
        figures,
        events.json(),
        rows,
        await store.seat_marks(scene.eid),
        await store.ga_counts(scene.eid),
        sorted(h.hold_id for h in await store.live_holds(scene.eid)),
        (queue, await runtime.queue.store.counts(scene.eid)),  # last: joining changes it
    )


# ----------------------------------------------------------- bodies, shapes


async def test_bodies_that_are_not_json_are_400(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    scene = await make_scene(client, venue, make_event, admitted)
    before = await snapshot(client, runtime, scene)
    bodies = [
        b"not json",
        b"{",
        b'{"seats": ["BALC-A-2"]',
        b"{'seats': []}",
        b"\xff\xfe{\x00}",
        b'{"a": 1} trailing',
        b"[" * 10_000,  # deeper than any parser should recurse
        b'{"q": ' + b"9" * 5000 + b"}",  # past Python's int digit limit
        b"<xml/>",
    ]
    for method, path, headers in scene.body_endpoints():
        for body in bodies:
            r = await client.request(method, path, content=body, headers=headers)
            assert_error(r, 400, "invalid_request")
    assert await snapshot(client, runtime, scene) == before


async def test_wrong_json_shapes_are_4xx(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    scene = await make_scene(client, venue, make_event, admitted)
    before = await snapshot(client, runtime, scene)
    not_objects: list[Any] = [[], [1, 2], "seats", None, 42, 1.5, True, [{"seats": ["BALC-A-2"]}]]
    for method, path, headers in scene.body_endpoints():
        for body in not_objects:
            r = await client.request(
                method, path, content=json.dumps(body), headers={**headers, **JSON_HEADERS}
            )
            assert_error(r, 400, "invalid_request")

    nested: Any = {"seats": ["BALC-A-2"]}
    for _ in range(40):
        nested = {"x": [nested]}
    garbage: list[Any] = [
        {"seats": {"$gt": ""}},
        {"seats": [["BALC-A-2"]]},
        {"seats": ["BALC-A-2"] * 1000},
        {"section": "FLOOR", "quantity": 10**100},
        {"section": "FLOOR", "quantity": -(10**100)},
        {"section": "FLOOR", "quantity": -3},
        {"section": "FLOOR", "quantity": 1e308},
        {"section": "FLOOR", "quantity": {"n": 2}},
        {"section": "FLOOR" * 10_000, "quantity": 2},
        {"section": "FLÖÖR", "quantity": 2},
        {"section": SQLISH, "quantity": 2},
        {"seats": [SQLISH]},
        {"seats": ["BALC-A-1\u0301"]},
        {"seats": ["🎸-🎸-1"]},
        {"name": "x" * 60_000},
        {"buyer": {"email": SQLISH, "name": SQLISH}, "payment": {"provider": SQLISH}},
        {"buyer": "fan@example.org", "payment": "4242424242424242"},
        {"buyer": [BUYER], "payment": [CARD]},
        {"slug": SQLISH, "name": SQLISH, "timezone": SQLISH},
        {"sale": None, "limits": [], "admission": "fast", "sections": {"a": 1}},
        {"": None, "\u202e": "\u202e"},
        nested,
    ]
    for method, path, headers in scene.body_endpoints():
        for body in garbage:
            r = await client.request(method, path, json=body, headers=headers)
            if path.endswith("/queue") and body is not nested:
                assert r.status_code in (200, 201), r.text  # a JSON object, ignored
                continue
            assert_error(r, {400, 409, 422})
    # Joining made new queue entries; nothing else moved.
    after = await snapshot(client, runtime, scene)
    assert after[:-1] == before[:-1]


async def test_text_no_backend_can_store_is_refused(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    """NUL (Postgres text refuses it) and lone surrogates (no UTF-8 form), as
    JSON escapes, anywhere in a body: 400, before any payment is taken."""
    scene = await make_scene(client, venue, make_event, admitted)
    before = await snapshot(client, runtime, scene)
    raw_bodies = [
        b'{"name": "Le \\u0000 Bain", "slug": "nul-venue", "timezone": "UTC"}',
        b'{"name": "Le \\ud800 Bain", "slug": "surrogate-venue", "timezone": "UTC"}',
        b'{"seats": ["\\udfff"]}',
        b'{"\\u0000": 1, "seats": ["BALC-A-2"]}',
        b'{"buyer": {"email": "fan@example.org", "name": "Ca\\u0000mille"}, '
        b'"payment": {"provider": "test", "card_number": "4242424242424242"}}',
        b'{"buyer": {"email": "fan@example.org", "name": "Ca\\udbffmille"}, '
        b'"payment": {"provider": "test", "card_number": "4242424242424242"}}',
    ]
    for method, path, headers in scene.body_endpoints():
        for body in raw_bodies:
            r = await client.request(method, path, content=body, headers=headers)
            assert_error(r, 400, "invalid_request")
    assert await snapshot(client, runtime, scene) == before
    provider = runtime.providers["test"]
    assert isinstance(provider, payments.TestProvider)
    assert [c.status for c in provider.charges.values()] == ["captured"]


async def test_bodies_past_64_kib_are_413(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    scene = await make_scene(client, venue, make_event, admitted)
    before = await snapshot(client, runtime, scene)
    big = json.dumps({"name": "x" * LIMIT}).encode()
    exactly = b'{"a":"' + b"x" * (LIMIT - 8) + b'"}'
    assert len(exactly) == LIMIT

    async def chunked(data: bytes) -> AsyncIterator[bytes]:
        for i in range(0, len(data), 4096):
            yield data[i : i + 4096]

    for method, path, headers in scene.body_endpoints():
        r = await client.request(method, path, content=big, headers=headers)
        assert_error(r, 413, "payload_too_large")
        # No Content-Length: the server counts while it reads.
        r = await client.request(method, path, content=chunked(big), headers=headers)
        assert "content-length" not in r.request.headers
        assert_error(r, 413, "payload_too_large")
        # A Content-Length that announces too much is refused before reading.
        r = await client.request(
            method, path, content=b"{}", headers={**headers, "Content-Length": str(10**9)}
        )
        assert_error(r, 413, "payload_too_large")
        # At the limit it is read (and refused for what it says, not its size).
        r = await client.request(method, path, content=exactly, headers=headers)
        assert r.status_code != 413, (path, r.text)
    after = await snapshot(client, runtime, scene)
    assert after[:-1] == before[:-1]


# ------------------------------------------------------------ routes, paths


async def test_unknown_routes_and_methods_answer_json(
    client: httpx.AsyncClient, venue: dict[str, str], make_event: MakeEvent
) -> None:
    event = await make_event()
    for path in ("/nope", "/api", "/api/events", "/api/events/x/y/z", "/api/admin/venues/x"):
        r = await client.get(path)
        assert_error(r, 404, "not_found")
    for method, path in (
        ("PUT", f"/api/events/{event['id']}"),
        ("DELETE", f"/api/events/{event['id']}"),
        ("GET", "/api/admin/venues"),
        ("DELETE", "/api/admin/events"),
        ("GET", f"/api/events/{event['id']}/holds"),
        ("GET", "/api/holds/hold_x/checkout"),
        ("POST", "/api/orders/ord_x"),
        ("PUT", f"/api/events/{event['id']}/queue"),
        ("POST", "/healthz"),
    ):
        r = await client.request(method, path, headers=auth(venue["api_key"]))
        assert_error(r, 405, "method_not_allowed")
        assert r.headers.get("allow"), r.headers


async def test_hostile_path_parameters_are_404(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    scene = await make_scene(client, venue, make_event, admitted)
    before = await snapshot(client, runtime, scene)
    ids = [
        "x" * 1000,
        "%00",
        "ev%00x",
        "%27%3B%20DROP%20TABLE%20events%3B--",
        "%E2%80%AE",
        "..%2F..",
    ]
    key = auth(scene.key)
    access = auth(scene.access)
    order = auth(scene.order["order_token"])
    checkout = {**access, "Idempotency-Key": str(uuid.uuid4())}
    for bad in ids:
        for method, path, headers, body in (
            ("GET", f"/api/events/{bad}", {}, None),
            ("GET", f"/api/events/{bad}/seats", {}, None),
            ("POST", f"/api/events/{bad}/queue", {}, None),
            ("GET", f"/api/events/{bad}/queue/status", access, None),
            ("POST", f"/api/events/{bad}/holds", access, {"seats": ["BALC-A-2"]}),
            ("DELETE", f"/api/holds/{bad}", access, None),
            ("POST", f"/api/holds/{bad}/checkout", checkout, {"buyer": BUYER, "payment": CARD}),
            ("GET", f"/api/orders/{bad}", order, None),
            ("GET", f"/api/admin/events/{bad}", key, None),
            ("PATCH", f"/api/admin/events/{bad}", key, {"name": "x"}),
            ("GET", f"/api/admin/events/{bad}/stats", key, None),
            ("GET", f"/api/admin/events/{bad}/orders", key, None),
            ("GET", f"/api/admin/events/{bad}/orders.csv", key, None),
            ("POST", f"/api/admin/events/{bad}/boxoffice", key, {"seats": ["BALC-A-2"]}),
            ("POST", f"/api/admin/orders/{bad}/refund", key, None),
        ):
            r = await client.request(method, path, headers=headers, json=body)
            # 403: an order token names one order.
            assert_error(r, {403, 404}), (method, path)
            if "/orders/" not in path:
                assert r.status_code == 404, (method, path, r.text)
    after = await snapshot(client, runtime, scene)
    assert after[:-1] == before[:-1]


# ------------------------------------------------------------------- tokens


async def test_forged_expired_and_mangled_tokens_are_401(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    scene = await make_scene(client, venue, make_event, admitted)
    before = await snapshot(client, runtime, scene)
    eid = scene.eid
    entry = tokens.verify(SECRET, scene.access, kind="access", event_id=eid, now=time.time())
    past = int(time.time()) - 1
    expired = {
        kind: tokens.sign(SECRET, tokens.Claims(kind, eid, subject, past))
        for kind, subject in (
            ("queue", entry.subject),
            ("access", entry.subject),
            ("order", scene.order["order_id"]),
        )
    }
    other_key = tokens.sign(
        b"another-secret", tokens.Claims("access", eid, entry.subject, past + 3600)
    )
    payload, _, mac = scene.access.partition(".")
    mangled: list[str | bytes] = [
        "x",
        ".",
        "a.b",
        f"{payload}.",
        f".{mac}",
        f"{payload}.{mac}x",
        f"{payload}x.{mac}",
        other_key,
        "é" + scene.access,
        b"\xff\xfe." + scene.access.encode(),
        "a" * 10_000,
        SQLISH,
    ]
    requests = [
        ("GET", f"/api/events/{eid}/queue/status", "queue", None),
        ("DELETE", f"/api/events/{eid}/queue", "queue", None),
        ("POST", f"/api/events/{eid}/queue", "queue", None),
        ("POST", f"/api/events/{eid}/holds", "access", {"seats": ["BALC-A-2"]}),
        ("DELETE", f"/api/holds/{scene.hold_id}", "access", None),
        (
            "POST",
            f"/api/holds/{scene.hold_id}/checkout",
            "access",
            {"buyer": BUYER, "payment": CARD},
        ),
        ("GET", f"/api/orders/{scene.order['order_id']}", "order", None),
    ]
    for method, path, kind, body in requests:
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        r = await client.request(
            method, path, json=body, headers={**headers, **auth(expired[kind])}
        )
        assert_error(r, 401, "token_expired")
        for token in mangled:
            value = b"Bearer " + (token if isinstance(token, bytes) else token.encode())
            r = await client.request(
                method, path, json=body, headers={**headers, "Authorization": value}
            )
            assert_error(r, 401, "unauthorized")
    for path in ("/api/admin/events", f"/api/admin/events/{eid}/stats"):
        for token in [*mangled, scene.access, ADMIN_TOKEN]:
            value = b"Bearer " + (token if isinstance(token, bytes) else token.encode())
            r = await client.get(path, headers={"Authorization": value})
            assert_error(r, 401, "unauthorized")
    assert await snapshot(client, runtime, scene) == before


async def test_hostile_idempotency_keys_are_422(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    scene = await make_scene(client, venue, make_event, admitted)
    before = await snapshot(client, runtime, scene)
    for key in [
        "",
        "short",
        "k" * 129,
        SQLISH,
        "key with spaces",
        b"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8",
    ]:
        r = await client.post(
            f"/api/holds/{scene.hold_id}/checkout",
            json={"buyer": BUYER, "payment": CARD},
            headers={**auth(scene.access), "Idempotency-Key": key},
        )
        assert_error(r, 422, "validation_error")
    assert await snapshot(client, runtime, scene) == before


# ---------------------------------------------------------- a seat map bomb


async def test_a_seated_event_cannot_exceed_the_capacity_bound(
    client: httpx.AsyncClient, venue: dict[str, str]
) -> None:
    """GA sections are bounded by MAX_CAPACITY (200,000); seated ones must be
    too, or one 27 KB request makes Redis build 200,200 seats in one script
    (seconds during which no other hold runs) and /seats answer ~16 MB."""
    body = event_body(ga=0, rows={str(i): 200 for i in range(1, 1002)})  # rows "1".."1001"
    r = await client.post("/api/admin/events", json=body, headers=auth(venue["api_key"]))
    assert r.status_code == 422, f"a seated event of 200,200 seats was accepted: {r.text[:100]}"
    assert_error(r, 422, "validation_error")
    fields = r.json()["error"]["details"]["fields"]
    assert all(f.startswith("sections") and not f.endswith(".row") for f in fields), fields


# -------------------------------------------------------------------- fuzz

_interesting = st.sampled_from(
    [
        "BALC-A-2",
        "BALC-A-1",
        "FLOOR",
        "BALC",
        "",
        " ",
        "x" * 300,
        SQLISH,
        "🎸",
        "\u0000",
        "\ud800",
        "fan@example.org",
        "Fan+tag@Example.ORG",
        "test",
        "cash",
        "4242424242424241",
        "4000000000000002",
        "2026-12-31T20:00:00Z",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "Europe/Paris",
        "../../etc/passwd",
    ]
)
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=300)
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(alphabet=st.characters(exclude_categories=()), max_size=20)
    | _interesting
)
_KEYS = "seats section quantity best_available buyer payment email name provider card_number"
_keys = st.sampled_from([*_KEYS.split(), "slug", "timezone", "sale", "sections", "rows"])
_keys = _keys | st.text(max_size=6)
json_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
hold_bodies = json_values | st.fixed_dictionaries(
    {},
    optional={
        "seats": json_values | st.lists(_interesting | st.text(max_size=12), max_size=4),
        "section": json_values,
        "quantity": json_values,
        "best_available": json_values,
    },
)
_buyers = json_values | st.fixed_dictionaries(
    {}, optional={"email": json_values, "name": json_values}
)
_payments = json_values | st.fixed_dictionaries(
    {}, optional={"provider": json_values, "card_number": json_values}
)
checkout_bodies = json_values | st.fixed_dictionaries(
    {}, optional={"buyer": _buyers, "payment": _payments, "extra": json_values}
)
venue_bodies = json_values | st.fixed_dictionaries(
    {}, optional={"name": json_values, "slug": json_values, "timezone": json_values}
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


_EVENT_PATHS = _paths(event_body())


@st.composite
def event_bodies(draw: st.DrawFn) -> Any:
    """A valid event with one to three parts replaced (or removed), or garbage."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    body = event_body()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_EVENT_PATHS))
        node: Any = body
        try:
            for step in path[:-1]:
                node = node[step]
            if isinstance(node, dict) and draw(st.booleans()) and draw(st.booleans()):
                node.pop(path[-1], None)
            else:
                node[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed that part
    return body


Check = Callable[[Any], Awaitable[None]]


async def fuzz(strategy: st.SearchStrategy[Any], check: Check, examples: int = 100) -> None:
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(body: Any) -> None:
        asyncio.run_coroutine_threadsafe(check(body), loop).result(timeout=30)

    await asyncio.to_thread(run)


def encode(body: Any) -> bytes:
    # ensure_ascii: lone surrogates travel as \\u escapes, as a hostile client sends them.
    return json.dumps(body, ensure_ascii=True, allow_nan=True).encode()


async def test_fuzz_holds(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    scene = await make_scene(client, venue, make_event, admitted)
    r = await client.delete(f"/api/holds/{scene.hold_id}", headers=auth(scene.access))
    assert r.status_code == 204
    before = await snapshot(client, runtime, scene)
    url = f"/api/events/{scene.eid}/holds"

    async def check(body: Any) -> None:
        headers = {**auth(scene.access), **JSON_HEADERS}
        r = await client.post(url, content=encode(body), headers=headers)
        if r.status_code == 201:
            gone = await client.delete(f"/api/holds/{r.json()['hold_id']}", headers=headers)
            assert gone.status_code == 204, gone.text
        else:
            assert_error(r, {400, 409, 422})
        assert await snapshot(client, runtime, scene) == before, (body, r.text)

    await fuzz(hold_bodies, check)


async def test_fuzz_checkout(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    scene = await make_scene(client, venue, make_event, admitted)
    before = await snapshot(client, runtime, scene)

    async def check(body: Any) -> None:
        headers = {
            **auth(scene.access),
            **JSON_HEADERS,
            "Idempotency-Key": str(uuid.uuid4()),
        }
        r = await client.post(
            f"/api/holds/{scene.hold_id}/checkout", content=encode(body), headers=headers
        )
        # No valid card is ever drawn: a 201 would be a bug.
        assert_error(r, {400, 402, 422})
        assert await snapshot(client, runtime, scene) == before, (body, r.text)

    await fuzz(checkout_bodies, check)
    r = await client.post(
        f"/api/holds/{scene.hold_id}/checkout",
        json={"buyer": BUYER, "payment": CARD},
        headers={**auth(scene.access), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text


async def test_fuzz_events_and_venues(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    scene = await make_scene(client, venue, make_event, admitted)
    state = {"before": await snapshot(client, runtime, scene)}

    def checker(path: str, token: str, statuses: set[int]) -> Check:
        async def check(body: Any) -> None:
            r = await client.post(
                path, content=encode(body), headers={**auth(token), **JSON_HEADERS}
            )
            if r.status_code == 201:
                assert isinstance(r.json()["id"], str), r.text
                state["before"] = await snapshot(client, runtime, scene)
                return
            assert_error(r, statuses)
            assert await snapshot(client, runtime, scene) == state["before"], (body, r.text)

        return check

    await fuzz(event_bodies(), checker("/api/admin/events", scene.key, {400, 422}))
    await fuzz(venue_bodies, checker("/api/admin/venues", ADMIN_TOKEN, {400, 409, 422}))


# ------------------------------------------------- the queue's doors (I8)


async def test_no_admitted_fan_who_never_passed_the_joins_guards(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str]
) -> None:
    """Sockets with no token, an empty one, garbage or a token signed with
    another key, and an address past its join limit, on an event that asks for
    a proof of work: no queue entry and no admission comes from any of them;
    only the fans who passed the guards are in the queue, and admitted."""
    body = event_body()
    body["admission"]["pow_difficulty"] = 8
    r = await client.post("/api/admin/events", json=body, headers=auth(venue["api_key"]))
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    runtime.guard.joins_per_minute = 3
    try:
        honest: list[str] = []
        for _ in range(3):
            c = (await client.get(f"/api/events/{eid}/queue/challenge")).json()["challenge"]
            proof = {"challenge": c, "nonce": solve(c, 8)}
            r = await client.post(f"/api/events/{eid}/queue", json={"pow": proof})
            assert r.status_code == 201, r.text
            honest.append(r.json()["entry_id"])
        c = (await client.get(f"/api/events/{eid}/queue/challenge")).json()["challenge"]
        proof = {"challenge": c, "nonce": solve(c, 8)}
        limited = await client.post(f"/api/events/{eid}/queue", json={"pow": proof})
        assert_error(limited, 429, "rate_limited")
        before = await places(runtime, eid)
        forged = tokens.sign(b"not-the-key", tokens.Claims("queue", eid, "q_forged-1", 2**31))
        knocks = [None, "", "garbage", "a.b", forged, "\u00e9.\u00e9"] * 8
        async with serving(runtime) as host:
            answers = await asyncio.gather(*(knock(host, eid, t, within=1.0) for t in knocks))
            ev = await runtime.events.get(eid)
            for _ in range(3):
                await runtime.queue.admit(ev)
        k = runtime.queue.store.keys(eid)
        active = await runtime.redis.zrange(k.active, 0, -1)
        intruders = set(active) - set(honest)
        assert not intruders, f"{len(intruders)} admitted who never passed the guards"
        assert active, "the honest fans are admitted"
        assert sorted(await runtime.redis.hkeys(k.entries)) == sorted(honest)
        assert await places(runtime, eid) == before
        assert not [heard for _, heard in answers if heard]
        assert [code for code, _ in answers] == [4401] * len(knocks)
    finally:
        runtime.guard.joins_per_minute = 0


# ------------------------------------------- a crowd clicking "pay" at once


async def test_concurrent_checkouts_of_one_hold_never_500(
    client: httpx.AsyncClient,
    runtime: Runtime,
    make_event: MakeEvent,
    admitted: Admit,
) -> None:
    """Eight checkouts of one hold at once with eight keys, and the first key
    twice more (a double click, a retry): one order, every other answer a 409
    (or the same order again for the same key), never a 5xx; one payment
    authorized and captured per hold, nothing left for the reconciler."""
    provider = runtime.providers["test"]
    assert isinstance(provider, payments.TestProvider)
    provider.latency_seconds = 0.05  # the provider's round trip: the race window
    event = await make_event()
    eid = event["id"]
    wants = [{"seats": ["BALC-A-1"]}, {"section": "FLOOR", "quantity": 2}, {"seats": ["BALC-B-5"]}]
    for want in wants:
        access = await admitted(eid)
        r = await client.post(f"/api/events/{eid}/holds", json=want, headers=auth(access))
        assert r.status_code == 201, r.text
        url = f"/api/holds/{r.json()['hold_id']}/checkout"
        keys = [str(uuid.uuid4()) for _ in range(8)]
        answers = await asyncio.gather(
            *(
                client.post(
                    url,
                    json={"buyer": BUYER, "payment": CARD},
                    headers={**auth(access), "Idempotency-Key": key},
                )
                for key in [*keys, keys[0], keys[0]]
            )
        )
        statuses = [a.status_code for a in answers]
        assert not [s for s in statuses if s >= 500], statuses
        assert statuses.count(201) == 1, statuses
        orders = {a.json()["order_id"] for a in answers if a.status_code in (200, 201)}
        assert len(orders) == 1, statuses
        for a in answers:
            if a.status_code == 409:
                assert_error(a, 409)
                error = a.json()["error"]
                assert error["code"] == "checkout_in_progress" or (
                    error["code"] == "hold_expired" and error["details"] == {"reason": "paid"}
                ), a.text
    assert sorted(c.status for c in provider.charges.values()) == ["captured"] * len(wants)
    async with runtime.engine.connect() as conn:
        open_payments = (
            await conn.execute(
                sa.text("SELECT count(*) FROM payments WHERE status IN ('pending', 'authorized')")
            )
        ).scalar_one()
    assert open_payments == 0
    repairs = await runtime.reconciler.run_once()
    assert repairs.counts["payment_voided"] == 0, repairs.counts
