"""The fan page told "service restarting" (close 1012, a draining node during
a deploy, onsale.drain) reconnects at once through the balancer, without the
outage banner nor a status poll that would add load to the other nodes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, Request, WebSocketRoute, expect

from tests import live_server


def _waiting_page(
    server: live_server.Server,
    api: httpx.Client,
    event_of: Callable[..., str],
    fan_page: Callable[..., Page],
) -> tuple[Page, list[WebSocketRoute], list[str]]:
    event_id = event_of(max_active=1, ga=0, rows={"A": 2})
    assert api.post(f"/api/events/{event_id}/queue", json={}).status_code == 201
    page = fan_page(event_id, go=False)
    sockets: list[WebSocketRoute] = []
    polls: list[str] = []

    def route(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        ws.connect_to_server()

    def seen(request: Request) -> None:
        if "/queue/status" in request.url:
            polls.append(request.url)

    page.route_web_socket(re.compile(r"/ws/events/"), route)
    page.on("request", seen)
    page.goto(f"{server.url}/e/{event_id}")
    page.get_by_test_id("queue-join").click()
    expect(page.get_by_test_id("queue-state")).to_have_text("waiting")
    return page, sockets, polls


def test_a_restarting_node_is_left_at_once_without_an_outage(
    server: live_server.Server,
    api: httpx.Client,
    event_of: Callable[..., str],
    fan_page: Callable[..., Page],
) -> None:
    page, sockets, polls = _waiting_page(server, api, event_of, fan_page)
    before = len(polls)
    told = time.monotonic()
    sockets[0].close(code=1012, reason="service restart")
    for _ in range(60):
        if len(sockets) == 2:
            break
        page.wait_for_timeout(50)
    assert len(sockets) == 2, "no new socket"
    assert time.monotonic() - told < 1.5
    expect(page.locator("#queue-reconnecting")).to_be_hidden()
    expect(page.get_by_test_id("queue-state")).to_have_text("waiting")
    assert len(polls) == before  # the link was never down: no poll


def test_any_other_close_is_an_outage_with_a_poll(
    server: live_server.Server,
    api: httpx.Client,
    event_of: Callable[..., str],
    fan_page: Callable[..., Page],
) -> None:
    """The same drop with another code: the banner and a status poll (the
    difference the 1012 path makes)."""
    page, sockets, polls = _waiting_page(server, api, event_of, fan_page)
    before = len(polls)
    sockets[0].close(code=1001, reason="going away")
    expect(page.locator("#queue-reconnecting")).to_be_visible()
    page.wait_for_timeout(300)
    assert len(polls) > before
