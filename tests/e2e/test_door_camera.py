"""The door page reads a ticket's QR code through the camera: Chromium's fake
camera plays a Y4M video of the code (tests/e2e/door_helpers.qr_y4m); the
page decodes it (BarcodeDetector where the platform has one, else the
vendored jsQR) and the door answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests import live_server
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.door_helpers import door_key, qr_y4m, sell
from tests.e2e.test_door_page import open_door


@pytest.fixture(scope="module")
def ticket(
    api: httpx.Client, tmp_path_factory: pytest.TempPathFactory, settings: Any
) -> dict[str, Any]:
    r = api.post(
        "/api/admin/venues",
        headers={"Authorization": "Bearer " + settings.admin_token.reveal()},
        json={"name": "Camera club", "slug": "camera-club", "timezone": "Europe/Paris"},
    )
    assert r.status_code == 201, r.text
    venue = r.json()
    from tests.conftest import auth, event_body

    r = api.post("/api/admin/events", headers=auth(venue["api_key"]), json=event_body())
    event_id = r.json()["id"]
    order = sell(api, venue["api_key"], event_id)
    code = order["tickets"][0]["code"]
    video = qr_y4m(code, tmp_path_factory.mktemp("camera") / "ticket.y4m")
    return {"code": code, "video": video, "key": door_key(api, venue["api_key"], event_id)}


@pytest.fixture(scope="module")
def camera_browser(ticket: dict[str, Any]) -> Iterator[Browser]:
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={ticket['video']}",
    ]
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        yield b
        b.close()


def test_the_camera_reads_the_ticket(
    server: live_server.Server,
    camera_browser: Browser,
    ticket: dict[str, Any],
    shots: Callable[[Page, str], Path],
) -> None:
    context = camera_browser.new_context(
        viewport={"width": 400, "height": 900}, permissions=["camera"]
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        open_door(page, server, ticket["key"])
        page.get_by_test_id("door-camera").click()
        expect(page.get_by_test_id("door-result")).to_have_text("admitted")
        shots(page, "camera-admitted")
        decoder = page.locator("#door").get_attribute("data-decoder")
        assert decoder in ("barcodedetector", "jsqr")
    finally:
        context.close()
