"""The venue's page in a real browser against a real server: sign in, create
an event, open its sale, watch a sale happen live, export the orders, sell at
the counter, refund. Fans buy through the public API (httpx), as a fan's
browser would, while the venue's page updates by itself."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import auth

PARIS = ZoneInfo("Europe/Paris")
LIVE = 10_000  # ms: the page polls every 2 s; a change shows within a few polls


def local_input(t: datetime) -> str:
    """A ``datetime-local`` value: wall time in Paris, to the minute."""
    return t.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M")


def admin_page(page: Page, server: Any, lang: str = "en") -> tuple[Page, list[str]]:
    """The venue's page, and the script errors it raises (tests end with none)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(f"{server.url}/admin?lang={lang}")
    assert response is not None and response.status == 200
    return page, errors


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.type !== 'hidden' && !el.closest('[hidden]'))
  .filter((el) => (el.tagName === 'BUTTON' ? !el.textContent.trim() : el.labels.length === 0)
    && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map((el) => el.outerHTML)"""


def assert_labelled(page: Page) -> None:
    """Every input, select and button in view has a name for assistive technology."""
    assert page.evaluate(UNLABELLED) == []


def sign_in(page: Page, key: str) -> None:
    page.get_by_test_id("admin-signin-key").fill(key)
    page.get_by_test_id("admin-signin-submit").click()


def fan_admitted(api: httpx.Client, event_id: str) -> str:
    """Join the queue and wait to be admitted: the fan's access token."""
    r = api.post(f"/api/events/{event_id}/queue")
    assert r.status_code == 201, r.text
    queue_token = r.json()["queue_token"]
    deadline = time.monotonic() + 20
    while True:
        status = api.get(f"/api/events/{event_id}/queue/status", headers=auth(queue_token))
        assert status.status_code == 200, status.text
        if status.json()["state"] == "admitted":
            access: str = status.json()["access_token"]
            return access
        assert time.monotonic() < deadline, f"not admitted: {status.json()}"
        time.sleep(0.2)


def fan_holds(api: httpx.Client, event_id: str, access: str, seat: str) -> str:
    hold = api.post(f"/api/events/{event_id}/holds", headers=auth(access), json={"seats": [seat]})
    assert hold.status_code == 201, hold.text
    hold_id: str = hold.json()["hold_id"]
    return hold_id


def fan_pays(api: httpx.Client, access: str, hold_id: str, email: str) -> dict[str, Any]:
    order = api.post(
        f"/api/holds/{hold_id}/checkout",
        headers={**auth(access), "Idempotency-Key": str(uuid.uuid4())},
        json={
            "buyer": {"email": email, "name": "Camille Fan"},
            "payment": {"provider": "test", "card_number": "4242424242424242"},
        },
    )
    assert order.status_code == 201, order.text
    body: dict[str, Any] = order.json()
    return body


def fill_new_event(page: Page, name: str, now: datetime) -> None:
    """The form of a new event: one GA section and one seated with two rows."""
    page.get_by_test_id("admin-new-event").click()
    field = lambda path: page.get_by_test_id(f"admin-field-{path}")  # noqa: E731
    field("name").fill(name)
    field("starts_at").fill(local_input(now + timedelta(days=20)))
    field("language").select_option("fr")
    field("sale.opens_at").fill(local_input(now + timedelta(days=1)))
    field("sale.closes_at").fill(local_input(now + timedelta(days=19)))
    field("hold_seconds").fill("300")
    field("categories[0].price_cents").fill("25,00")
    field("categories[0].fee_cents").fill("1.50")
    page.get_by_test_id("admin-section-add-ga").click()
    field("sections[0].code").fill("floor")
    field("sections[0].capacity").fill("50")
    page.get_by_test_id("admin-section-add-seated").click()
    field("sections[1].code").fill("BALC")
    field("sections[1].rows[0].seats").fill("4")
    page.get_by_test_id("admin-row-add-sections[1]").click()
    field("sections[1].rows[1].seats").fill("4")


def test_wrong_key_is_refused_clearly(
    server: Any, new_page: Callable[..., Page], shots: Callable[[Page, str], Path]
) -> None:
    page, errors = admin_page(new_page(), server)
    sign_in(page, "not-a-venue-key")
    error = page.get_by_test_id("admin-signin-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("not valid")
    assert page.evaluate("sessionStorage.length") == 0
    assert errors == []
    shots(page, "wrong key")
    # The same in French.
    page, errors_fr = admin_page(new_page(), server, "fr")
    expect(page.get_by_label("Clé d'API de la salle")).to_be_visible()
    sign_in(page, "not-a-venue-key")
    expect(page.get_by_test_id("admin-signin-error")).to_contain_text("n'est pas valide")
    shots(page, "wrong key in French")
    assert errors == errors_fr == []


def test_validation_errors_show_next_to_their_fields(
    server: Any,
    api: httpx.Client,
    venue: dict[str, Any],
    new_page: Callable[..., Page],
    shots: Callable[[Page, str], Path],
) -> None:
    page, errors = admin_page(new_page(timezone_id="Europe/Paris"), server)
    sign_in(page, venue["api_key"])
    expect(page.get_by_test_id("admin-events-empty")).to_be_visible()
    page.get_by_test_id("admin-new-event").click()
    now = datetime.now(PARIS)
    page.get_by_test_id("admin-field-name").fill("Concert")
    page.get_by_test_id("admin-field-sale.opens_at").fill(local_input(now + timedelta(days=2)))
    page.get_by_test_id("admin-field-sale.closes_at").fill(local_input(now + timedelta(days=1)))
    page.get_by_test_id("admin-event-submit").click()
    closes_error = page.get_by_test_id("admin-field-error-sale.closes_at")
    expect(closes_error).to_have_text("must be after sale.opens_at")
    expect(page.get_by_test_id("admin-field-sale.closes_at")).to_have_attribute(
        "aria-invalid", "true"
    )
    # No section at all: the message sits with the sections.
    expect(page.get_by_test_id("admin-field-error-sections")).to_be_visible()
    expect(page.get_by_test_id("admin-form-errors")).to_be_visible()
    shots(page, "errors next to the fields")
    # A nested field: the capacity of the first section.
    page.get_by_test_id("admin-field-sale.closes_at").fill(local_input(now + timedelta(days=3)))
    page.get_by_test_id("admin-section-add-ga").click()
    page.get_by_test_id("admin-field-sections[0].code").fill("FLOOR")
    page.get_by_test_id("admin-field-sections[0].capacity").fill("0")
    page.get_by_test_id("admin-event-submit").click()
    expect(page.get_by_test_id("admin-field-error-sections[0].capacity")).to_contain_text(
        "must be between"
    )
    expect(closes_error).to_be_hidden()
    shots(page, "nested field error")
    # Nothing was created by the refused attempts.
    events = api.get("/api/admin/events", headers=auth(venue["api_key"])).json()["events"]
    assert events == []
    # An event that is not the venue's (or not at all) says so.
    page.evaluate("location.hash = '#/events/ev_nope'")
    expect(page.get_by_test_id("admin-error")).to_contain_text("No such event")
    expect(page.get_by_test_id("admin-event-form")).to_have_count(0)
    assert errors == []


@pytest.mark.timeout(120)
def test_venue_runs_a_sale_from_the_admin_page(
    server: Any,
    api: httpx.Client,
    venue: dict[str, Any],
    new_page: Callable[..., Page],
    shots: Callable[[Page, str], Path],
) -> None:
    key = venue["api_key"]
    page, errors = admin_page(new_page(timezone_id="Europe/Paris", accept_downloads=True), server)
    shots(page, "sign in")
    assert_labelled(page)
    sign_in(page, key)
    expect(page.get_by_test_id("admin-events-empty")).to_be_visible()

    # Create the event in the form.
    now = datetime.now(PARIS)
    fill_new_event(page, "Nuit d'hiver", now)
    assert_labelled(page)
    shots(page, "new event form")
    # From the keyboard: the button takes the focus and Enter submits.
    page.get_by_test_id("admin-event-submit").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("admin-live-status")).to_have_attribute("data-status", "scheduled")
    event_id = page.evaluate("location.hash").split("/")[2]
    event = api.get(f"/api/admin/events/{event_id}", headers=auth(key)).json()
    assert event["name"] == "Nuit d'hiver" and event["language"] == "fr"
    assert [s["code"] for s in event["sections"]] == ["FLOOR", "BALC"]
    assert event["sections"][1]["rows"] == [{"row": "A", "seats": 4}, {"row": "B", "seats": 4}]
    assert event["categories"][0]["price_cents"] == 2500
    assert event["categories"][0]["fee_cents"] == 150
    # Wall time in Paris, stored in UTC.
    starts = datetime.fromisoformat(event["starts_at"].replace("Z", "+00:00"))
    assert local_input(starts) == local_input(now + timedelta(days=20))
    expect(page.get_by_test_id("admin-fan-link")).to_have_attribute(
        "href", f"/e/{event_id}?lang=fr"
    )
    shots(page, "live view before the sale")

    # The session survives a reload; the edit form shows the fixed parts read-only.
    page.reload()
    page.get_by_test_id("admin-edit-link").click()
    expect(page.get_by_test_id("admin-event-structure")).to_contain_text("BALC")
    expect(page.get_by_test_id("admin-field-sections[0].code")).to_have_count(0)
    page.get_by_test_id("admin-field-admission.rate_per_minute").fill("1200")
    page.get_by_test_id("admin-event-submit").click()
    expect(page.get_by_test_id("admin-notice")).to_be_visible()
    event = api.get(f"/api/admin/events/{event_id}", headers=auth(key)).json()
    assert event["admission"]["rate_per_minute"] == 1200

    # Open the sale in one click.
    page.get_by_test_id("admin-open-sale").click()
    expect(page.get_by_test_id("admin-live-status")).to_have_attribute(
        "data-status", "on_sale", timeout=LIVE
    )
    assert api.get(f"/api/events/{event_id}").json()["status"] == "on_sale"
    expect(page.get_by_test_id("admin-open-sale")).to_be_hidden()
    expect(page.get_by_test_id("admin-seat-BALC-A-1")).to_have_attribute("data-state", "free")
    shots(page, "sale open")

    # A fan buys a seat through the public API; the page updates by itself.
    page.evaluate("window.notReloaded = true")
    access = fan_admitted(api, event_id)
    hold_id = fan_holds(api, event_id, access, "BALC-A-1")
    expect(page.get_by_test_id("admin-seat-BALC-A-1")).to_have_attribute(
        "data-state", "held", timeout=LIVE
    )
    expect(page.get_by_test_id("admin-stat-held")).to_have_attribute("data-value", "1")
    shots(page, "a fan holds a seat")
    order = fan_pays(api, access, hold_id, "camille@example.org")
    order_id = order["order_id"]
    expect(page.get_by_test_id("admin-stat-sold")).to_have_attribute(
        "data-value", "1", timeout=LIVE
    )
    expect(page.get_by_test_id("admin-stat-revenue")).to_have_attribute("data-value", "2650")
    expect(page.get_by_test_id("admin-stat-revenue")).to_contain_text("26.50")
    expect(page.get_by_test_id("admin-sales-chart")).to_have_attribute("data-total", "1")
    expect(page.get_by_test_id("admin-seat-BALC-A-1")).to_have_attribute(
        "data-state", "sold", timeout=LIVE
    )
    expect(page.get_by_test_id(f"admin-order-{order_id}")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
    shots(page, "after an online sale")
    assert_labelled(page)

    # Search the orders.
    search = page.get_by_test_id("admin-orders-search")
    search.fill("nobody-like-this")
    expect(page.get_by_test_id("admin-orders-empty")).to_be_visible()
    search.fill("camille@example")
    expect(page.get_by_test_id(f"admin-order-{order_id}")).to_be_visible()
    search.fill(order_id)
    expect(page.get_by_test_id("admin-orders-table")).to_have_attribute("data-count", "1")
    search.fill("")

    # Export the orders as CSV.
    with page.expect_download() as download_info:
        page.get_by_test_id("admin-orders-export").click()
    download = download_info.value
    assert download.suggested_filename == f"orders-{event_id}.csv"
    csv_text = Path(download.path()).read_text(encoding="utf-8")
    assert csv_text.startswith("order_id,")
    assert order_id in csv_text and "camille@example.org" in csv_text and "BALC-A-1" in csv_text

    # At the counter: a sold seat is refused, with the reason by the seats field.
    box = lambda name: page.get_by_test_id(f"admin-boxoffice-{name}")  # noqa: E731
    box("section").select_option("BALC")
    box("seats").fill("BALC-A-1")
    box("name").fill("Dominique Guichet")
    box("email").fill("dominique@example.org")
    box("submit").click()
    expect(page.get_by_test_id("admin-field-error-seats")).to_contain_text("BALC-A-1")
    shots(page, "box office refused a sold seat")
    # A free seat chosen on the seat overview, paid by card.
    box("seats").fill("")
    page.get_by_test_id("admin-seat-BALC-B-2").click()
    expect(box("seats")).to_have_value("BALC-B-2")
    box("payment").select_option("test")
    box("card").fill("4242 4242 4242 4242")
    box("submit").click()
    expect(page.get_by_test_id("admin-boxoffice-ticket")).to_have_attribute("data-seat", "BALC-B-2")
    expect(page.get_by_test_id("admin-field-error-seats")).to_be_hidden()
    expect(page.get_by_test_id("admin-seat-BALC-B-2")).to_have_attribute(
        "data-state", "sold", timeout=LIVE
    )
    # Two standing places, for cash.
    box("section").select_option("FLOOR")
    expect(box("seats")).to_be_hidden()
    box("quantity").fill("2")
    box("payment").select_option("cash")
    box("submit").click()
    expect(page.get_by_test_id("admin-boxoffice-ticket")).to_have_count(2)
    expect(page.get_by_test_id("admin-stat-sold")).to_have_attribute(
        "data-value", "4", timeout=LIVE
    )
    shots(page, "box office sales")

    # Refund the fan's order: the seat is free again, the stats drop.
    page.get_by_test_id(f"admin-refund-{order_id}").click()
    expect(page.get_by_test_id("admin-refund-dialog")).to_be_visible()
    shots(page, "refund dialog")
    page.get_by_test_id("admin-refund-confirm").click()
    expect(page.get_by_test_id(f"admin-order-{order_id}")).to_have_attribute(
        "data-status", "refunded", timeout=LIVE
    )
    expect(page.get_by_test_id("admin-stat-sold")).to_have_attribute(
        "data-value", "3", timeout=LIVE
    )
    expect(page.get_by_test_id("admin-stat-revenue")).to_have_attribute("data-value", "7950")
    expect(page.get_by_test_id("admin-seat-BALC-A-1")).to_have_attribute(
        "data-state", "free", timeout=LIVE
    )
    expect(page.get_by_test_id(f"admin-refund-{order_id}")).to_have_count(0)
    shots(page, "after the refund")

    # The same view in French, from a bookmark of the event's live view.
    french, errors_fr = admin_page(
        new_page(timezone_id="Europe/Paris", locale="fr-FR"), server, f"fr#/events/{event_id}"
    )
    sign_in(french, key)
    expect(french.get_by_test_id("admin-stat-revenue")).to_have_text("79,50\u00a0€")
    expect(french.get_by_text("Billets vendus par minute")).to_be_visible()
    expect(french.get_by_test_id(f"admin-order-status-{order_id}")).to_have_text("remboursée")
    shots(french, "live view in French")
    assert errors_fr == []

    # Sign out: the key is forgotten.
    page.get_by_test_id("admin-signout").click()
    expect(page.get_by_test_id("admin-signin-key")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    assert errors == []
