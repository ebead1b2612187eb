"""Browser tests: Debian's Chromium driven by Playwright against a real
`onsale serve` process on the test Redis and Postgres.

Each step worth looking at is saved as a screenshot under
``test-output/e2e/<test name>/`` (see ``shots``).
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from onsale.settings import Settings
from tests import live_server
from tests.conftest import ADMIN_TOKEN, auth, event_body

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a machine with no network and no screen: without the
# background-networking ones Chromium keeps dialling Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "e2e"

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[live_server.Server]:
    """One server for the module, its background loops (admission, push) on."""
    with live_server.running(settings, ONSALE_BACKGROUND_TASKS="1") as servers:
        yield servers[0]


@pytest.fixture(scope="module")
def api(server: live_server.Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture
def venue(api: httpx.Client) -> dict[str, Any]:
    """A new venue: its id, slug and API key."""
    slug = f"v-{uuid.uuid4().hex[:12]}"
    r = api.post(
        "/api/admin/venues",
        headers=auth(ADMIN_TOKEN),
        json={"name": "La Coopérative", "slug": slug, "timezone": "Europe/Paris"},
    )
    assert r.status_code == 201, r.text
    venue: dict[str, Any] = r.json()
    return venue


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one module. Not for the session: Playwright's sync API runs
    an event loop of its own while it is open, and the async tests after the
    browser tests could not run theirs."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (.ci/run installs it)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Pages, each in its own browser context (its own storage: another fan)."""
    contexts = []

    def make(**options: Any) -> Page:
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """``shots(page, "step")`` saves a numbered full-page screenshot of the step."""
    folder = OUTPUT / _safe(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count = 0

    def shot(page: Page, step: str) -> Path:
        nonlocal count
        count += 1
        path = folder / f"{count:02d}-{_safe(step)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shot


@pytest.fixture
def event_of(api: httpx.Client, venue: dict[str, Any]) -> Callable[..., str]:
    """``event_of(**event_body_options, language=..., pow_difficulty=...)``: a
    new event of the venue; its id."""

    def make(language: str = "en", pow_difficulty: int = 0, **options: Any) -> str:
        body = {**event_body(**options), "language": language}
        body["admission"] = {**body["admission"], "pow_difficulty": pow_difficulty}
        r = api.post("/api/admin/events", headers=auth(venue["api_key"]), json=body)
        assert r.status_code == 201, r.text
        event_id: str = r.json()["id"]
        return event_id

    return make


def page_ready(page: Page) -> None:
    """Wait for the fan page's script to have read the event and shown the
    step (before that, a key press may land on what is about to move)."""
    expect(page.locator("[data-event-id]")).to_have_attribute("aria-busy", "false")


@pytest.fixture
def fan_page(
    server: live_server.Server, new_page: Callable[..., Page]
) -> Iterator[Callable[..., Page]]:
    """``fan_page(event_id)``: a new fan (own browser context) on the event's
    page. Any uncaught script error or console error fails the test."""
    errors: list[str] = []

    def make(event_id: str, query: str = "", *, go: bool = True, **options: Any) -> Page:
        """``go=False``: the page is not opened yet (to set routes first)."""
        page = new_page(**options)
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        if go:
            page.goto(f"{server.url}/e/{event_id}{query}")
            page_ready(page)
        return page

    yield make
    # Chromium logs answers the page expects (a 409 for a taken seat, a 402
    # for a declined card, a request a test cut) as failed loads: not script errors.
    real = [e for e in errors if "Failed to load resource" not in e]
    assert not real, real
