"""Staff and the buyers' data on the venue page, in a real browser against a
real server: a manager creates a door person, who signs in with their own key
and sees only the door; the manager exports a buyer and erases them in two
clicks; the audit log shows each step."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.conftest import auth
from tests.e2e.test_admin_page import admin_page, assert_labelled, fan_admitted, sign_in

EMAIL = "lou@example.org"
NAME = "Lou Buyer"


def _sold(api: httpx.Client, event_id: str) -> str:
    access = fan_admitted(api, event_id)
    hold = api.post(
        f"/api/events/{event_id}/holds",
        headers=auth(access),
        json={"section": "FLOOR", "quantity": 1},
    ).json()
    r = api.post(
        f"/api/holds/{hold['hold_id']}/checkout",
        headers={**auth(access), "Idempotency-Key": "e2e-staff-order-1"},
        json={
            "buyer": {"email": EMAIL, "name": NAME},
            "payment": {"provider": "test", "card_number": "4242424242424242"},
        },
    )
    assert r.status_code == 201, r.text
    order_id: str = r.json()["order_id"]
    return order_id


def test_a_door_person_sees_only_the_door(
    server: Any,
    api: httpx.Client,
    venue: dict[str, Any],
    event_of: Callable[..., str],
    new_page: Callable[..., Page],
    shots: Callable[[Page, str], Path],
) -> None:
    event_of()
    page, errors = admin_page(new_page(), server)
    sign_in(page, venue["api_key"])
    expect(page.get_by_test_id("admin-events")).to_be_visible()
    page.get_by_test_id("admin-staff").click()
    page.get_by_test_id("staff-email").fill("door.volunteer@staff.example")
    page.get_by_test_id("staff-role").select_option("door")
    page.get_by_test_id("staff-create").click()
    shown = page.get_by_test_id("staff-new-key")
    expect(shown).to_be_visible()
    door_key = shown.input_value()
    assert door_key.startswith("vk_")
    expect(page.get_by_test_id("staff-list")).to_contain_text("door.volunteer@staff.example")
    assert_labelled(page)
    shots(page, "staff-created")

    door_page, door_errors = admin_page(new_page(), server)
    sign_in(door_page, door_key)
    expect(door_page.get_by_test_id("admin-door-link")).to_be_visible()
    expect(door_page.get_by_test_id("admin-whoami")).to_contain_text("door")
    for hidden in ("admin-keys", "admin-staff", "admin-buyers", "admin-audit"):
        expect(door_page.get_by_test_id(hidden)).to_be_hidden()
    expect(door_page.get_by_test_id("admin-door")).to_be_visible()
    expect(door_page.get_by_test_id("admin-events")).to_have_count(0)
    # Even asked for by its address, the events list is not for the door.
    door_page.goto(f"{server.url}/admin#/buyers")
    expect(door_page.get_by_test_id("admin-door-link")).to_be_visible()
    expect(door_page.get_by_test_id("buyers-panel")).to_have_count(0)
    shots(door_page, "door-person")

    # The manager revokes them: their next request is refused.
    staff = api.get("/api/admin/staff", headers=auth(venue["api_key"])).json()["staff"]
    staff_id = staff[0]["staff_id"]
    page.get_by_test_id(f"staff-revoke-{staff_id}").click()
    page.get_by_test_id("staff-revoke-confirm").click()
    expect(page.get_by_test_id(f"staff-{staff_id}")).to_have_attribute("data-active", "false")
    assert api.get("/api/admin/me", headers=auth(door_key)).status_code == 401
    assert errors == [] and door_errors == []


def test_a_buyer_is_exported_and_erased_in_two_clicks(
    server: Any,
    api: httpx.Client,
    venue: dict[str, Any],
    event_of: Callable[..., str],
    new_page: Callable[..., Page],
    shots: Callable[[Page, str], Path],
) -> None:
    event_id = event_of()
    order_id = _sold(api, event_id)
    page, errors = admin_page(new_page(accept_downloads=True), server, lang="fr")
    sign_in(page, venue["api_key"])
    expect(page.get_by_test_id("admin-events")).to_be_visible()
    page.get_by_test_id("admin-buyers").click()
    page.get_by_test_id("buyer-email").fill(EMAIL)
    with page.expect_download() as got:
        page.get_by_test_id("buyer-export").click()
    exported = json.loads(Path(got.value.path()).read_text(encoding="utf-8"))
    assert [o["order_id"] for o in exported["orders"]] == [order_id]
    assert exported["orders"][0]["buyer"] == {"email": EMAIL, "name": NAME}
    expect(page.get_by_test_id("buyer-result")).to_contain_text("1")
    assert_labelled(page)
    shots(page, "exported")

    page.get_by_test_id("buyer-erase").click()
    expect(page.get_by_test_id("buyer-erase-text")).to_contain_text(EMAIL)
    shots(page, "erase-confirm")
    page.get_by_test_id("buyer-erase-confirm").click()
    expect(page.get_by_test_id("buyer-result")).to_contain_text("1 commandes anonymisées")
    orders = api.get(f"/api/admin/events/{event_id}/orders", headers=auth(venue["api_key"])).json()[
        "orders"
    ]
    assert [(o["order_id"], o["status"]) for o in orders] == [(order_id, "paid")]
    assert EMAIL not in json.dumps(orders) and NAME not in json.dumps(orders)

    page.get_by_test_id("admin-audit").click()
    audit = page.get_by_test_id("audit-list")
    expect(audit.locator("[data-action='buyer.erase']")).to_have_count(1)
    expect(audit.locator("[data-action='buyer.export']")).to_have_count(1)
    expect(audit).not_to_contain_text(EMAIL)
    shots(page, "audit")
    assert errors == []


def test_the_fan_page_asks_the_venue_s_own_question_and_links_its_notice(
    api: httpx.Client,
    venue: dict[str, Any],
    event_of: Callable[..., str],
    fan_page: Callable[..., Page],
    shots: Callable[[Page, str], Path],
) -> None:
    r = api.put(
        "/api/admin/venue-settings",
        headers=auth(venue["api_key"]),
        json={
            "marketing_consent": {
                "enabled": True,
                "text_en": "Tell me about the next concerts",
                "text_fr": "Parlez-moi des prochains concerts",
            },
            "privacy": {"contact_email": "dpo@venue.example", "notice_text": "Three years."},
        },
    )
    assert r.status_code == 200, r.text
    event_id = event_of()
    page = fan_page(event_id)
    page.get_by_test_id("queue-join").click()
    expect(page.get_by_test_id("hold-submit")).to_be_visible(timeout=20_000)
    page.get_by_test_id("seat-BALC-A-1").click()
    page.get_by_test_id("hold-submit").click()
    consent = page.get_by_test_id("checkout-consent")
    expect(consent).to_be_visible()
    expect(consent).not_to_be_checked()
    expect(page.locator("#checkout-consent-text")).to_have_text("Tell me about the next concerts")
    expect(page.get_by_test_id("checkout-privacy")).to_have_attribute(
        "href", f"{page.url.split('/e/')[0]}/privacy/{venue['id']}"
    )
    consent.check()
    shots(page, "checkout with the venue's question")
    page.get_by_test_id("checkout-name").fill(NAME)
    page.get_by_test_id("checkout-email").fill(EMAIL)
    page.get_by_test_id("checkout-card").fill("4242424242424242")
    page.get_by_test_id("checkout-submit").click()
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    contacts = api.get("/api/admin/consents", headers=auth(venue["api_key"])).json()["contacts"]
    assert [c["email"] for c in contacts] == [EMAIL]


def test_a_box_office_person_sees_the_counter_but_no_refund_or_export(
    server: Any,
    api: httpx.Client,
    venue: dict[str, Any],
    event_of: Callable[..., str],
    new_page: Callable[..., Page],
    shots: Callable[[Page, str], Path],
) -> None:
    event_id = event_of()
    order_id = _sold(api, event_id)
    made = api.post(
        "/api/admin/staff",
        headers=auth(venue["api_key"]),
        json={"email": "counter@staff.example", "role": "boxoffice"},
    ).json()
    page, errors = admin_page(new_page(), server)
    sign_in(page, made["api_key"])
    expect(page.get_by_test_id(f"admin-event-{event_id}")).to_be_visible()
    expect(page.get_by_test_id("admin-new-event")).to_have_count(0)
    expect(page.get_by_test_id(f"admin-event-edit-{event_id}")).to_have_count(0)
    for hidden in ("admin-keys", "admin-staff", "admin-buyers", "admin-audit", "admin-door"):
        expect(page.get_by_test_id(hidden)).to_be_hidden()
    page.get_by_test_id(f"admin-event-live-{event_id}").click()
    expect(page.get_by_test_id("admin-boxoffice-form")).to_be_visible()
    expect(page.get_by_test_id(f"admin-order-{order_id}")).to_be_visible()
    expect(page.get_by_test_id(f"admin-refund-{order_id}")).to_have_count(0)
    expect(page.get_by_test_id("admin-orders-export")).to_have_count(0)
    expect(page.get_by_test_id("admin-edit-link")).to_have_count(0)
    shots(page, "box office")
    assert errors == []
