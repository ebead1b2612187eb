"""The pages are served: the fan's page for an event (in its language), a
clear page for an unknown event, the venue's page, static files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page

from tests.conftest import auth, event_body


def test_fan_page_in_the_events_language(
    api: httpx.Client,
    venue: dict[str, Any],
    server: Any,
    new_page: Callable[..., Page],
    shots: Callable[[Page, str], Path],
) -> None:
    r = api.post(
        "/api/admin/events",
        headers=auth(venue["api_key"]),
        json={**event_body(), "language": "fr"},
    )
    assert r.status_code == 201, r.text
    event_id = r.json()["id"]
    page = new_page()
    response = page.goto(f"{server.url}/e/{event_id}")
    assert response is not None and response.status == 200
    assert page.locator("html").get_attribute("lang") == "fr"
    shots(page, "fan page")
    page.goto(f"{server.url}/e/{event_id}?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"


def test_unknown_event_page(server: Any, new_page: Callable[..., Page]) -> None:
    page = new_page()
    response = page.goto(f"{server.url}/e/ev_nope")
    assert response is not None and response.status == 404
    assert page.get_by_test_id("error-message").is_visible()


def test_admin_page_and_static_files(api: httpx.Client) -> None:
    assert api.get("/admin").status_code == 200
    css = api.get("/static/style.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert api.get("/static/nope.js").status_code == 404
