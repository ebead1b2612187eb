"""Shared fixtures: real Redis and real Postgres for every test that needs them.

The servers are those named by ONSALE_TEST_REDIS_URL / ONSALE_TEST_DATABASE_URL,
or embedded ones started for the session. Tests use their own database
(``onsale_test``), Redis database index 15 and key prefix ``onsaletest``, and
clean both before each test, so they never disturb anything else.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aredis

from onsale import db
from onsale.app import create_app
from onsale.embedded import start_embedded
from onsale.runtime import Runtime
from onsale.settings import Secret, Settings

# Overridable so that several test runs can share one machine's servers.
# With pytest-xdist (make test-fast), each worker gets its own database and
# Redis index: gw0 the base ones, gw1 the next database name and index 14...
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
TEST_DB = os.environ.get("ONSALE_TEST_DB_NAME", "onsale_test") + (f"_{_WORKER}" if _WORKER else "")
TEST_REDIS_DB = int(os.environ.get("ONSALE_TEST_REDIS_DB", "15")) - _WORKER
ADMIN_TOKEN = "test-platform-token"
TABLES = (
    "scans",
    "checkins",
    "door_keys",
    "outbox",
    "ticket_keys",
    "ticket_counters",
    "audit_log",
    "payment_notices",
    "stripe_events",
    "payment_accounts",
    "consents",
    "idempotency",
    "payments",
    "tickets",
    "orders",
    "sections",
    "categories",
    "events",
    "venue_keys",
    "venues",
)


# Markers by directory, so that `make test-fast` (-m "not slow and not e2e and
# not load") leaves out the Locust sell-out, the chaos run and the browser tests
# without each file having to say so.
MARKS_BY_DIRECTORY = {"load": "load", "e2e": "e2e", "deploy": "slow"}
# The fast lane's slowest tests (3 s and more each on a busy 2-core machine:
# several server processes, hundreds of fans, deliberate waits or a slow KDF),
# marked `slow` here (file::test, every parameter) so that their files stay as
# they are; `make test` still runs them.
SLOW_TESTS = {
    "integration/test_queue_durability.py::test_two_live_processes_lose_no_place_when_redis_is_wiped",
    "integration/test_waiting_room.py::test_the_prequeue_draw_is_fair_and_anyone_can_check_it",
    "integration/test_cli.py::test_verify_draw_recomputes_the_revealed_order",
    "integration/test_multiprocess.py::test_two_processes_are_one_waiting_room",
    "integration/test_hostile_input.py::test_fuzz_holds",
    "integration/test_hostile_input.py::test_fuzz_events_and_venues",
    "integration/test_hostile_input.py::test_fuzz_checkout",
    "security/test_request_limits.py::test_a_trickled_request_head_is_cut_off_and_a_slow_body_is_not",
    "security/test_production_settings.py::test_production_turns_the_test_provider_off",
    "security/test_card_hash.py::test_the_stored_hash_does_not_give_the_card_away",
    # Real `onsale serve` processes (drain, keys revoked on every worker,
    # proxies, metrics, logs) and the checkout bench's tiny round.
    "integration/test_drain.py::test_sigterm_drains_fans_in_batches_and_finishes_the_checkout",
    "integration/test_drain.py::test_without_the_drain_every_socket_closes_at_once",
    "integration/test_drain.py::test_a_shutdown_that_hangs_is_ended_at_the_bound",
    "integration/test_drain.py::test_with_workers_each_worker_drains",
    "integration/test_cli.py::test_verify_passes_a_clean_sale_and_fails_an_oversold_one",
    "security/test_staff_roles.py::test_a_revoked_staff_key_is_refused_by_every_process_at_once",
    "security/test_venue_key_rotation.py::test_two_server_processes_refuse_a_revoked_key_at_once",
    "security/test_forwarded_ips.py::test_a_spoofed_header_from_an_untrusted_peer_is_not_believed",
    "security/test_forwarded_ips.py::test_a_trusted_proxys_header_names_the_client",
    "security/test_log_privacy.py::test_a_real_server_logs_no_buyer_data",
    "security/test_metrics_token.py::test_metrics_need_the_token",
    "security/test_metrics_token.py::test_without_the_setting_metrics_stay_open",
    "loadtests/test_bench_checkout.py::test_one_tiny_round_of_onsale_and_the_ceiling",
}
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        try:
            where = item.path.resolve().relative_to(TESTS)
        except ValueError:
            continue
        mark = MARKS_BY_DIRECTORY.get(where.parts[0])
        if mark:
            item.add_marker(mark)
        name = getattr(item, "originalname", item.name)
        if f"{where.as_posix()}::{name}" in SLOW_TESTS:
            item.add_marker("slow")


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def _recreate_database(server_url: str) -> None:
    conn = await asyncpg.connect(_with_db(server_url, "postgres"))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{TEST_DB}' AND pid <> pg_backend_pid()"
        )
        await conn.execute(f"DROP DATABASE IF EXISTS {TEST_DB}")
        await conn.execute(f"CREATE DATABASE {TEST_DB}")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def backend_urls() -> Iterator[tuple[str, str]]:
    """(redis url, database url) of the test servers, schema migrated."""
    redis_url = os.environ.get("ONSALE_TEST_REDIS_URL")
    database_url = os.environ.get("ONSALE_TEST_DATABASE_URL")
    servers = None
    if not (redis_url and database_url):
        data_dir = Path(tempfile.mkdtemp(prefix="onsale-test-"))
        servers = start_embedded(data_dir, redis=not redis_url, postgres=not database_url)
        redis_url = redis_url or servers.redis_url
        database_url = database_url or servers.database_url
    assert redis_url and database_url
    asyncio.run(_recreate_database(database_url))
    test_db_url = _with_db(database_url, TEST_DB)
    db.upgrade_sync(test_db_url)
    try:
        yield _with_db(redis_url, str(TEST_REDIS_DB)), test_db_url
    finally:
        if servers:
            servers.stop()


@pytest.fixture(scope="session")
def settings(backend_urls: tuple[str, str]) -> Settings:
    redis_url, database_url = backend_urls
    return Settings(
        redis_url=redis_url,
        database_url=database_url,
        secret_key=Secret("test-secret-key"),
        admin_token=Secret(ADMIN_TOKEN),
        redis_prefix="onsaletest",
        background_tasks=False,
        checkout_grace_seconds=60,
        orphan_payment_seconds=0,
        reconcile_settle_seconds=0,
        join_rate_per_minute=0,  # many fans from one test client; one test turns it on
        # Tests read the seat map right after a hold; test_seatmap_cost turns it on.
        seat_map_cache_seconds=0,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def redis_client(settings: Settings) -> AsyncIterator[aredis.Redis]:
    assert settings.redis_url
    client = aredis.Redis.from_url(settings.redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


_EMPTYING: dict[str, str] = {}


async def _truncate(url: str) -> None:
    """Every table of the schema emptied and its sequences restarted, as
    TRUNCATE ... RESTART IDENTITY CASCADE would, in ~2 ms instead of ~55 (the
    fast lane runs it before each of its ~1,100 tests): plain DELETEs with the
    foreign-key triggers off for this session (the tests' user owns the
    server), every table named, so nothing is left to a cascade."""
    conn = await asyncpg.connect(url)
    try:
        if url not in _EMPTYING:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
            sequences = await conn.fetch(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind = 'S' AND n.nspname = 'public'"
            )
            assert set(TABLES) <= {t[0] for t in tables}
            _EMPTYING[url] = (
                "SET session_replication_role = replica;"
                + "".join(f" DELETE FROM {t[0]};" for t in tables)
                + "".join(f" ALTER SEQUENCE {q[0]} RESTART;" for q in sequences)
                + " SET session_replication_role = DEFAULT;"
            )
        await conn.execute(_EMPTYING[url])
    finally:
        await conn.close()


@pytest_asyncio.fixture(loop_scope="session")
async def runtime(settings: Settings, redis_client: aredis.Redis) -> AsyncIterator[Runtime]:
    """A runtime on clean Redis and Postgres, without background tasks (tests
    drive admission and reconciliation themselves)."""
    assert settings.database_url and settings.redis_url
    await _truncate(settings.database_url)
    from onsale import redis as redis_conn

    client = await redis_conn.connect(settings.redis_url)
    engine = db.create_engine(settings.database_url)
    rt = Runtime.build(settings, client, engine)
    yield rt
    await client.aclose()
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime.settings, runtime=runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://onsale.test") as c:
        yield c


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_body(
    *,
    opens_in: float = -60,
    prequeue_in: float | None = None,
    ga: int = 100,
    rows: dict[str, int] | None = None,
    rate: int = 6000,
    max_active: int = 200,
    hold_seconds: int = 300,
    per_order: int = 6,
    per_buyer: int = 6,
) -> dict[str, Any]:
    """An event definition; by default on sale since a minute ago."""
    now = datetime.now(UTC)
    opens = now + timedelta(seconds=opens_in)
    prequeue = (
        opens - timedelta(minutes=30)
        if prequeue_in is None
        else (now + timedelta(seconds=prequeue_in))
    )
    rows = {"A": 10, "B": 10} if rows is None else rows
    sections: list[dict[str, Any]] = []
    if ga:
        sections.append({"code": "FLOOR", "kind": "ga", "category": "STD", "capacity": ga})
    if rows:
        sections.append(
            {
                "code": "BALC",
                "kind": "seated",
                "category": "STD",
                "rows": [{"row": r, "seats": n} for r, n in rows.items()],
            }
        )
    return {
        "name": "Night show",
        "starts_at": iso(now + timedelta(days=10)),
        "sale": {
            "prequeue_opens_at": iso(prequeue),
            "opens_at": iso(opens),
            "closes_at": iso(now + timedelta(days=9)),
        },
        "admission": {"rate_per_minute": rate, "max_active": max_active, "session_seconds": 600},
        "hold_seconds": hold_seconds,
        "limits": {"per_order": per_order, "per_buyer": per_buyer},
        "categories": [
            {
                "code": "STD",
                "name": "Standard",
                "price_cents": 2500,
                "fee_cents": 100,
                "currency": "EUR",
            }
        ],
        "sections": sections,
    }


@pytest_asyncio.fixture(loop_scope="session")
async def venue(client: httpx.AsyncClient) -> dict[str, str]:
    r = await client.post(
        "/api/admin/venues",
        json={"name": "La Coopérative de Mai", "slug": "coopedemai", "timezone": "Europe/Paris"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


MakeEvent = Callable[..., Awaitable[dict[str, Any]]]


@pytest_asyncio.fixture(loop_scope="session")
async def make_event(client: httpx.AsyncClient, venue: dict[str, str]) -> MakeEvent:
    async def make(**kwargs: Any) -> dict[str, Any]:
        r = await client.post(
            "/api/admin/events", json=event_body(**kwargs), headers=auth(venue["api_key"])
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    return make


Admit = Callable[..., Awaitable[str]]


@pytest_asyncio.fixture(loop_scope="session")
async def admitted(client: httpx.AsyncClient, runtime: Runtime) -> Admit:
    """Join an open event's queue, run admission, and return an access token."""

    async def admit(event_id: str) -> str:
        r = await client.post(f"/api/events/{event_id}/queue")
        assert r.status_code == 201, r.text
        token = r.json()["queue_token"]
        event = await runtime.events.get(event_id)
        for _ in range(50):
            await runtime.queue.admit(event)
            s = await client.get(f"/api/events/{event_id}/queue/status", headers=auth(token))
            assert s.status_code == 200, s.text
            if s.json()["state"] == "admitted":
                access: str = s.json()["access_token"]
                return access
            await asyncio.sleep(0.05)
        raise AssertionError("not admitted")

    return admit
