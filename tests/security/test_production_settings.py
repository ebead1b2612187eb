"""``ONSALE_ENV=production``: ``onsale serve`` refuses to start without a strong
secret key, admin token and metrics token (exit 2, one line naming what is
wrong), and the ``test`` payment provider is off unless ``ONSALE_TEST_PAYMENTS=1``.

Before: ``ONSALE_ENV`` was not read at all. A production start with no secret
key made a random one (each process signing differently), an empty or short
admin token and no metrics token started a server all the same, and anyone
could pay with ``"provider": "test"`` and a made-up card number.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest

from onsale.app import create_app
from onsale.runtime import Runtime
from onsale.settings import Settings
from tests import live_server
from tests.conftest import ADMIN_TOKEN, auth, event_body
from tests.security._live import admitted, open_event

STRONG = {
    "ONSALE_ENV": "production",
    "ONSALE_SECRET_KEY": "s" * 32,
    "ONSALE_ADMIN_TOKEN": "a" * 32,
    "ONSALE_METRICS_TOKEN": "m" * 32,
}
CARD = {"provider": "test", "card_number": "4242424242424242"}
BUYER = {"email": "fan@example.org", "name": "Camille"}


def _serve(settings: Settings, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``onsale serve`` with only ``env``'s secrets; it must exit by itself."""
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ONSALE_")},
        "ONSALE_REDIS_URL": settings.redis_url or "",
        "ONSALE_DATABASE_URL": settings.database_url or "",
        "ONSALE_REDIS_PREFIX": settings.redis_prefix,
        "ONSALE_LOG_LEVEL": "WARNING",
        **env,
    }
    port = str(live_server.free_port())
    proc = subprocess.Popen(
        [sys.executable, "-m", "onsale.cli", "serve", "--port", port],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"onsale serve started with {sorted(env)}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize(
    ("missing", "change"),
    [
        ("ONSALE_SECRET_KEY", {"ONSALE_SECRET_KEY": ""}),
        ("ONSALE_SECRET_KEY", {"ONSALE_SECRET_KEY": "s" * 31}),
        ("ONSALE_ADMIN_TOKEN", {"ONSALE_ADMIN_TOKEN": ""}),
        ("ONSALE_ADMIN_TOKEN", {"ONSALE_ADMIN_TOKEN": "a" * 31}),
        ("ONSALE_METRICS_TOKEN", {"ONSALE_METRICS_TOKEN": ""}),
    ],
)
def test_production_refuses_to_start_without_strong_secrets(
    settings: Settings, missing: str, change: dict[str, str]
) -> None:
    """Before: the server started (``onsale serve started with [...]``)."""
    done = _serve(settings, {**STRONG, **change})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert missing in lines[0]
    for value in STRONG.values():  # what is wrong is named; no secret is shown
        if value != "production":
            assert value[:8] not in lines[0]


def test_production_names_every_problem_in_one_line(settings: Settings) -> None:
    """Before: ``onsale serve started with ['ONSALE_ENV']``."""
    done = _serve(settings, {"ONSALE_ENV": "production"})
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    for name in ("ONSALE_SECRET_KEY", "ONSALE_ADMIN_TOKEN", "ONSALE_METRICS_TOKEN"):
        assert name in line


def test_an_unknown_environment_name_is_refused(settings: Settings) -> None:
    """A typo must not quietly mean "not production". Before: it started."""
    done = _serve(settings, {**STRONG, "ONSALE_ENV": "prod"})
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "ONSALE_ENV" in line and "'prod'" in line


def _hold(api: httpx.Client, event_id: str) -> tuple[str, str]:
    access = admitted(api, event_id)
    held = api.post(
        f"/api/events/{event_id}/holds", headers=auth(access), json={"seats": ["BALC-A-1"]}
    )
    assert held.status_code == 201, held.text
    return access, held.json()["hold_id"]


def _checkout(api: httpx.Client, access: str, hold_id: str) -> httpx.Response:
    return api.post(
        f"/api/holds/{hold_id}/checkout",
        headers={**auth(access), "Idempotency-Key": str(uuid.uuid4())},
        json={"buyer": BUYER, "payment": CARD},
    )


def test_production_turns_the_test_provider_off(settings: Settings, runtime: Any) -> None:
    """A strong production start serves, and a checkout naming the ``test``
    provider is a 422 that changes nothing; ``ONSALE_TEST_PAYMENTS=1`` (a
    staging site) turns it back on.

    Before: the checkout was paid (``assert 201 == 422``).
    """
    with (
        live_server.running(settings, **STRONG) as [server],
        httpx.Client(base_url=server.url, timeout=10) as api,
    ):
        event_id = open_event(api, STRONG["ONSALE_ADMIN_TOKEN"])
        access, hold_id = _hold(api, event_id)
        refused = _checkout(api, access, hold_id)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "validation_error"
        assert "payment.provider" in error["details"]["fields"]
        seats = api.get(f"/api/events/{event_id}/seats").json()["seats"]
        assert {s["id"]: s["state"] for s in seats}["BALC-A-1"] == "held"
    with (
        live_server.running(settings, **STRONG, ONSALE_TEST_PAYMENTS="1") as [server],
        httpx.Client(base_url=server.url, timeout=10) as api,
    ):
        event_id = open_event(api, STRONG["ONSALE_ADMIN_TOKEN"])
        access, hold_id = _hold(api, event_id)
        assert _checkout(api, access, hold_id).status_code == 201


async def test_the_box_office_keeps_cash_when_test_payments_are_off(runtime: Runtime) -> None:
    """With the ``test`` provider off, the box office still takes cash, and a
    sale naming ``test`` there is a 422 that takes no seat.

    Before: ``test`` was always accepted (``assert 201 == 422``); with the
    provider off but the route checking against the fixed list, the 422 came
    after the seat was taken and left it held (``assert 'held' == 'free'``).
    """
    off = Runtime.build(
        runtime.settings.with_overrides(test_payments=False), runtime.redis, runtime.engine
    )
    assert "test" not in off.providers
    transport = httpx.ASGITransport(app=create_app(off.settings, runtime=off))
    async with httpx.AsyncClient(transport=transport, base_url="http://onsale.test") as api:
        venue = await api.post(
            "/api/admin/venues",
            headers=auth(ADMIN_TOKEN),
            json={"name": "Counter", "slug": "counter", "timezone": "UTC"},
        )
        key = venue.json()["api_key"]
        event = await api.post("/api/admin/events", headers=auth(key), json=event_body())
        eid = event.json()["id"]
        sale = {"seats": ["BALC-A-1"], "buyer": BUYER}
        refused = await api.post(
            f"/api/admin/events/{eid}/boxoffice", headers=auth(key), json={**sale, "payment": CARD}
        )
        assert refused.status_code == 422, refused.text
        assert "payment.provider" in refused.json()["error"]["details"]["fields"]
        seats = (await api.get(f"/api/events/{eid}/seats")).json()["seats"]
        assert {s["id"]: s["state"] for s in seats}["BALC-A-1"] == "free"
        cash = await api.post(
            f"/api/admin/events/{eid}/boxoffice",
            headers=auth(key),
            json={**sale, "payment": {"provider": "cash"}},
        )
        assert cash.status_code == 201, cash.text
