"""The venue's door view in Chromium: a door key made with a label (shown
once) and revoked, the live "checked in" and "inside now" per gate, the
double entries an offline phone reported, and an order's e-mail resent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests import live_server
from tests.conftest import auth
from tests.e2e.door_helpers import sell
from tests.e2e.test_admin_page import sign_in


def test_the_venue_sees_its_door(
    server: live_server.Server,
    api: httpx.Client,
    venue: dict[str, Any],
    event_of: Callable[..., str],
    new_page: Callable[..., Page],
    shots: Callable[[Page, str], Path],
) -> None:
    event_id = event_of()
    order = sell(api, venue["api_key"], event_id, 2)
    page = new_page(viewport={"width": 1100, "height": 900})
    page.goto(f"{server.url}/admin#/events/{event_id}/door")
    sign_in(page, venue["api_key"])
    page.get_by_test_id("admin-door-key-label").fill("North gate")
    page.get_by_test_id("admin-door-key-create").click()
    shown = page.get_by_test_id("admin-door-key-shown")
    expect(shown).to_contain_text("door_")
    key = shown.inner_text().rsplit(": ", 1)[1].strip()

    first, second = (t["code"] for t in order["tickets"])
    for code, scan_id, gate, extra in (
        (first, "scan-north-1", "north", {}),
        (second, "scan-south-1", "south", {}),
        # A phone offline at the south gate had let the first ticket in too.
        (first, "scan-south-2", "south", {"offline": True, "local_result": "admitted"}),
    ):
        r = api.post(
            "/api/door/scan",
            headers=auth(key),
            json={"code": code, "scan_id": scan_id, "gate": gate, **extra},
        )
        assert r.status_code == 200, r.text
    expect(page.get_by_test_id("admin-door-checked-in")).to_have_text("2")
    expect(page.get_by_test_id("admin-door-gate-north")).to_contain_text("1")
    conflict = page.get_by_test_id(f"admin-door-conflict-{order['tickets'][0]['ticket_id']}")
    expect(conflict).to_contain_text("north")
    expect(conflict).to_contain_text("south")
    shots(page, "door view")

    revoke = page.locator("[data-testid^=admin-door-revoke-]")
    revoke.click()
    expect(page.locator("[data-revoked=true]")).to_have_count(1)
    r = api.post(
        "/api/door/scan", headers=auth(key), json={"code": first, "scan_id": "scan-late-1"}
    )
    assert r.status_code == 401

    page.get_by_test_id("admin-back").click()
    page.get_by_test_id(f"admin-resend-{order['order_id']}").click()
    expect(page.get_by_test_id("admin-notice")).to_contain_text(order["order_id"])
