"""A real Prometheus (Debian's binary) scrapes a real ``onsale serve --workers
2`` with the shipped config and rules during a small sale; then every panel
query of the dashboard must return data, the figures must be the sale's, and
every metric the alerts read must exist. onsale wants a metrics token, which
the shipped config sends from its credentials file.

Loopback only, free ports, bounded waits; both servers are stopped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from websockets.asyncio.client import ClientConnection, connect

from onsale.monitoring import multiprocess
from onsale.settings import Settings
from tests.conftest import ADMIN_TOKEN, auth, event_body
from tests.monitoring.test_rules import MONITORING, _names, _rules, dashboard_queries

pytestmark = pytest.mark.slow

CARD = {"provider": "test", "card_number": "4242424242424242"}
DECLINED = {"provider": "test", "card_number": "4000000000000002"}
BUYER = {"email": "fan@example.org", "name": "Camille"}
METRICS_TOKEN = "prometheus-" + "m" * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, seconds: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{what} exited with {proc.returncode}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not start within {seconds}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL of its process group (uvicorn's workers too)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.fixture
def onsale(settings: Settings, runtime: Any, tmp_path: Path) -> Iterator[str]:
    """``onsale serve --workers 2`` on clean test backends; its address."""
    port = _free_port()
    env = {
        **os.environ,
        "ONSALE_REDIS_URL": settings.redis_url or "",
        "ONSALE_DATABASE_URL": settings.database_url or "",
        "ONSALE_REDIS_PREFIX": settings.redis_prefix,
        "ONSALE_SECRET_KEY": settings.secret_key.reveal(),
        "ONSALE_ADMIN_TOKEN": ADMIN_TOKEN,
        "ONSALE_METRICS_TOKEN": METRICS_TOKEN,
        "ONSALE_DATA_DIR": str(tmp_path / "onsale"),
        "ONSALE_JOIN_RATE_PER_MINUTE": "0",
        "ONSALE_ADMISSION_INTERVAL_SECONDS": "0.2",
        "ONSALE_RECONCILE_INTERVAL_SECONDS": "1",
        "ONSALE_PUSH_INTERVAL_SECONDS": "0.5",
        "ONSALE_LOG_LEVEL": "WARNING",
    }
    env.pop(multiprocess.ENV, None)
    with (tmp_path / "onsale.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "onsale.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(f"http://127.0.0.1:{port}/readyz", 40, "onsale", proc)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture
def prometheus(onsale: str, tmp_path: Path) -> Iterator[str]:
    """Prometheus with monitoring/prometheus.yml and its rules, scraping the
    onsale above every second; its base URL."""
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    assert os.access(binary, os.X_OK), "prometheus is missing: apt-get install prometheus"
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(MONITORING / rules) for rules in config["rule_files"]]
    [job] = config["scrape_configs"]
    job.update(scrape_timeout="1s", static_configs=[{"targets": [onsale]}])
    # The shipped config reads the token from a file: the same, elsewhere.
    assert job["authorization"]["type"] == "Bearer"
    token_file = tmp_path / "onsale-metrics-token"
    token_file.write_text(METRICS_TOKEN + "\n")
    job["authorization"]["credentials_file"] = str(token_file)
    assert httpx.get(f"http://{onsale}/metrics").status_code == 401
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = _free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(f"http://127.0.0.1:{port}/-/ready", 30, "prometheus", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest_asyncio.fixture(loop_scope="session")
async def prom(prometheus: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=prometheus, timeout=10) as client:
        yield client


async def _query(prom: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    r = await prom.get("/api/v1/query", params={"query": expr})
    assert r.status_code == 200, (expr, r.text)
    result: list[dict[str, Any]] = r.json()["data"]["result"]
    return result


async def _until(prom: httpx.AsyncClient, expr: str, seconds: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while True:
        result = await _query(prom, expr)
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.5)


async def _scalar(prom: httpx.AsyncClient, expr: str) -> float:
    [sample] = await _query(prom, expr)
    return float(sample["value"][1])


async def _admitted(api: httpx.AsyncClient, event_id: str) -> str:
    token = (await api.post(f"/api/events/{event_id}/queue")).json()["queue_token"]
    for _ in range(100):
        status = (await api.get(f"/api/events/{event_id}/queue/status", headers=auth(token))).json()
        if status["state"] == "admitted":
            access: str = status["access_token"]
            return access
        await asyncio.sleep(0.1)
    raise AssertionError("not admitted within 10 s")


async def _checkout(api: httpx.AsyncClient, access: str, hold_id: str, card: dict[str, str]) -> int:
    r = await api.post(
        f"/api/holds/{hold_id}/checkout",
        json={"buyer": BUYER, "payment": card},
        headers={**auth(access), "Idempotency-Key": str(uuid.uuid4())},
    )
    return r.status_code


async def _small_sale(api: httpx.AsyncClient, base: str) -> tuple[str, list[ClientConnection]]:
    """A sale with two buyers, a declined card, a lost race, a live hold, a few
    client errors, and two fans waiting on websockets for another event.
    Returns the event id and the open sockets."""
    venue = (
        await api.post(
            "/api/admin/venues",
            headers=auth(ADMIN_TOKEN),
            json={"name": "Prom", "slug": "prom-venue", "timezone": "UTC"},
        )
    ).json()
    key = venue["api_key"]
    created = await api.post(
        "/api/admin/events", headers=auth(key), json=event_body(ga=10, rows={"A": 10})
    )
    assert created.status_code == 201, created.text
    eid = created.json()["id"]
    later = await api.post(
        "/api/admin/events", headers=auth(key), json=event_body(opens_in=3600, prequeue_in=-60)
    )
    sockets = []
    for _ in range(2):
        token = (await api.post(f"/api/events/{later.json()['id']}/queue")).json()["queue_token"]
        ws = await connect(f"ws://{base}/ws/events/{later.json()['id']}/queue?token={token}")
        sockets.append(ws)

    a, b, c = [await _admitted(api, eid) for _ in range(3)]
    hold_a = await api.post(
        f"/api/events/{eid}/holds", headers=auth(a), json={"seats": ["BALC-A-1", "BALC-A-2"]}
    )
    assert hold_a.status_code == 201, hold_a.text
    assert await _checkout(api, a, hold_a.json()["hold_id"], CARD) == 201
    hold_b = await api.post(
        f"/api/events/{eid}/holds", headers=auth(b), json={"section": "FLOOR", "quantity": 2}
    )
    assert await _checkout(api, b, hold_b.json()["hold_id"], DECLINED) == 402
    assert await _checkout(api, b, hold_b.json()["hold_id"], CARD) == 201
    lost = await api.post(f"/api/events/{eid}/holds", headers=auth(c), json={"seats": ["BALC-A-1"]})
    assert lost.status_code == 409
    kept = await api.post(f"/api/events/{eid}/holds", headers=auth(c), json={"seats": ["BALC-A-3"]})
    assert kept.status_code == 201
    # One ticket through the door (the door's panel).
    orders = (await api.get(f"/api/admin/events/{eid}/orders", headers=auth(key))).json()["orders"]
    door = await api.post(f"/api/admin/events/{eid}/door-keys", headers=auth(key), json={})
    scanned = await api.post(
        "/api/door/scan",
        headers=auth(door.json()["door_key"]),
        json={"code": orders[0]["tickets"][0]["code"], "scan_id": str(uuid.uuid4())},
    )
    assert scanned.json()["result"] == "admitted"
    assert (await api.get("/api/events/ev_nothere")).status_code == 404
    assert (await api.post(f"/api/events/{eid}/holds", json={})).status_code == 401
    assert (await api.post("/api/admin/events", headers=auth(key), content=b"{")).status_code == 400
    return eid, sockets


async def test_every_panel_query_returns_data_from_a_real_sale(
    onsale: str, prom: httpx.AsyncClient
) -> None:
    assert await _until(prom, 'up{job="onsale"} == 1'), "Prometheus never scraped onsale"
    async with httpx.AsyncClient(base_url=f"http://{onsale}", timeout=10) as api:
        event_id, sockets = await _small_sale(api, onsale)
    try:
        # Two scrapes and two rule evaluations after the sale.
        sold = f'max(onsale_inventory_sold_places{{event_id="{event_id}"}})'
        assert await _until(prom, f"{sold} == 4"), "the sale never showed in Prometheus"
        await asyncio.sleep(2.5)
        empty = []
        for title, expr in dashboard_queries():
            query = expr.replace("$event", event_id)
            if not await _until(prom, query, seconds=10):
                empty.append((title, query))
        assert empty == [], empty

        # The figures are the sale's, summed over both workers where per process.
        e = f'event_id="{event_id}"'
        assert await _scalar(prom, f"max(onsale_checkout_live_tickets{{{e}}})") == 4
        assert await _scalar(prom, f"max(onsale_inventory_held_places{{{e}}})") == 1
        assert await _scalar(prom, f'max(onsale_checkout_orders{{{e}, status="paid"}})') == 2
        assert await _scalar(prom, f"max(onsale_inventory_oversold_places{{{e}}})") == 0
        assert await _scalar(prom, f"max(onsale_inventory_drift_places{{{e}}})") == 0
        assert await _scalar(prom, f"max(onsale_queue_admitted_fans_total{{{e}}})") == 3
        assert await _scalar(prom, "sum(job:onsale_ws_connections:sum)") == 2
        ok = 'sum(onsale_checkout_duration_seconds_count{outcome="ok"})'
        assert await _scalar(prom, ok) == 2
        for code, n in (("payment_declined", 1), ("seats_unavailable", 1), ("not_found", 1)):
            assert await _scalar(prom, f'sum(onsale_http_errors_total{{code="{code}"}})') == n
        # the sale's hold without a token, and the scrape without one (above)
        assert await _scalar(prom, 'sum(onsale_http_errors_total{code="unauthorized"})') == 2
        assert await _scalar(prom, 'sum(onsale_http_errors_total{code="invalid_request"})') == 1

        # Every series an alert or recording rule reads exists, every rule
        # evaluates, and a healthy sale pages nobody.
        names = set((await prom.get("/api/v1/label/__name__/values")).json()["data"])
        wanted = set().union(*(_names(r["expr"]) for r in _rules())) - {"ALERTS"}
        assert wanted - names == set()
        groups = (await prom.get("/api/v1/rules")).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        assert len(rules) == len(_rules())
        assert [r["name"] for r in rules if r["health"] != "ok"] == []
        assert await _query(prom, 'ALERTS{alertstate="firing"}') == []
    finally:
        for ws in sockets:
            await ws.close()
