"""Requests counted by route template, errors by code, one failure log line
with the request id and event id."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest

from onsale.monitoring import logs
from tests.conftest import Admit, MakeEvent, auth
from tests.monitoring.metrics_util import Delta

DECLINED = {"provider": "test", "card_number": "4000000000000002"}
BUYER = {"email": "fan@example.org", "name": "Camille"}


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What onsale.requests logs during the test, as JSON lines."""
    out = io.StringIO()
    handler = logs.JsonHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("onsale.requests")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel("INFO")
    yield out
    logger.removeHandler(handler)
    logger.setLevel(level)


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_requests_are_counted_by_route_template_never_by_raw_path(
    client: httpx.AsyncClient,
) -> None:
    d = Delta()
    for _ in range(3):
        assert (await client.get("/api/events/ev_notthere42")).status_code == 404
    assert (await client.get("/healthz")).status_code == 200
    route = "/api/events/{event_id}"
    assert d.of("onsale_http_requests_total", route=route, method="GET", status="404") == 3
    assert d.of("onsale_http_requests_total", route="/healthz", method="GET", status="200") == 1
    assert d.of("onsale_http_request_duration_seconds_count", route=route, method="GET") == 3
    assert d.of("onsale_http_errors_total", code="not_found") == 3
    assert "ev_notthere42" not in (await client.get("/metrics")).text


async def test_unmatched_paths_and_odd_methods_have_bounded_labels(
    client: httpx.AsyncClient,
) -> None:
    d = Delta()
    assert (await client.get("/no/such/path/x1")).status_code == 404
    assert (await client.request("BREW", "/healthz")).status_code == 405
    assert d.of("onsale_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert d.of("onsale_http_requests_total", route="/healthz", method="other", status="405") == 1
    assert d.of("onsale_http_errors_total", code="method_not_allowed") == 1
    text = (await client.get("/metrics")).text
    assert "/no/such/path" not in text and "BREW" not in text


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.1"})
    assert given.headers["x-request-id"] == "lb-7f3a.1"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "a b\x01" + "x" * 80})
    made = hostile.headers["x-request-id"]
    assert len(made) == 16 and int(made, 16) >= 0


async def test_a_failure_is_logged_once_with_code_request_and_event(
    client: httpx.AsyncClient, log_lines: io.StringIO, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    access = await admitted(event["id"])
    hold = await client.post(
        f"/api/events/{event['id']}/holds", headers=auth(access), json={"seats": ["BALC-A-1"]}
    )
    assert hold.status_code == 201
    log_lines.truncate(0)
    log_lines.seek(0)
    d = Delta()
    r = await client.post(
        f"/api/holds/{hold.json()['hold_id']}/checkout",
        json={"buyer": BUYER, "payment": DECLINED},
        headers={**auth(access), "Idempotency-Key": str(uuid.uuid4()), "X-Request-ID": "req-42"},
    )
    assert r.status_code == 402
    assert d.of("onsale_http_errors_total", code="payment_declined") == 1
    [line] = _lines(log_lines)
    assert (
        line["message"] == "request failed: 402 payment_declined POST /api/holds/{hold_id}/checkout"
    )
    assert line["request_id"] == "req-42"
    assert (
        line["event_id"] == event["id"]
    )  # the checkout path has no event id: the service named it
    assert line["code"] == "payment_declined" and line["status"] == 402
    assert line["route"] == "/api/holds/{hold_id}/checkout" and line["method"] == "POST"
    text = json.dumps(line)
    assert "4000000000000002" not in text and "fan@example.org" not in text and access not in text


async def test_successes_are_not_logged_by_the_middleware(
    client: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert _lines(log_lines) == []
