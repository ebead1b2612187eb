"""A fan pays through the fan page with Stripe.js (localstripe's mock), and
the card number never reaches onsale.

What localstripe's mock Stripe.js can and cannot do, in Chromium:
- it loads from ONSALE_STRIPE_JS_URL under the page's CSP, and its card
  element mounts in the page (plain inputs: number, exp_month, exp_year, cvc,
  postal_code) where real Stripe.js mounts iframes;
- its ``confirmCardPayment(clientSecret, data)`` ignores ``data`` (the card
  element) and only plays a 3-D Secure step: it opens a modal, then POSTs
  ``/v1/payment_intents/<id>/_authenticate``, which localstripe refuses (400)
  for a PaymentIntent that has no payment method yet. So the mock cannot
  confirm a fresh PaymentIntent with the card typed into its element.

The test therefore plays Stripe's part at that one step: it answers the
page's ``_authenticate`` request by confirming the PaymentIntent at
localstripe with the card typed into the element (what real Stripe.js sends
to Stripe from its iframe), and hands localstripe's answer back to the page.
Everything else is real: the page, onsale, Stripe.js' loading under the CSP,
the PaymentIntent, the capture.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from onsale.settings import Settings
from tests import live_server
from tests.conftest import auth
from tests.e2e.conftest import page_ready
from tests.e2e.test_fan_page import join_and_shop
from tests.localstripe import ACCOUNT, GOOD_CARD, SECRET_KEY, LocalStripe, running

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def localstripe() -> Iterator[LocalStripe]:
    with running() as server:
        yield server


@pytest.fixture(scope="module")
def server(settings: Settings, localstripe: LocalStripe) -> Iterator[live_server.Server]:
    with live_server.running(
        settings,
        ONSALE_BACKGROUND_TASKS="1",
        ONSALE_STRIPE_API_BASE=localstripe.url,
        ONSALE_STRIPE_JS_URL=localstripe.js_url,
    ) as servers:
        yield servers[0]


def confirm_at_stripe(localstripe: LocalStripe, card: str) -> Callable[[Route], None]:
    """Answer the mock's ``_authenticate`` as real Stripe.js would have
    confirmed: the card becomes a PaymentMethod, the PaymentIntent is confirmed."""

    def handle(route: Route) -> None:
        intent_id = re.search(r"/payment_intents/(pi_\w+)/", route.request.url)
        assert intent_id
        pi = intent_id.group(1)
        with httpx.Client(base_url=localstripe.url, auth=(SECRET_KEY, ""), timeout=10) as s:
            pm = s.post(
                "/v1/payment_methods",
                data={
                    "type": "card",
                    "card[number]": card,
                    "card[exp_month]": "12",
                    "card[exp_year]": "2034",
                    "card[cvc]": "123",
                },
            ).json()
            s.post(f"/v1/payment_intents/{pi}", data={"payment_method": pm["id"]})
            answer = s.post(f"/v1/payment_intents/{pi}/confirm")
        route.fulfill(
            status=200 if answer.status_code == 200 else 402,
            content_type="application/json",
            headers={"Access-Control-Allow-Origin": "*"},
            body=answer.text,
        )

    return handle


def test_a_fan_pays_with_stripe_js_and_onsale_never_sees_the_card(
    fan_page: Callable[..., Page],
    event_of: Callable[..., str],
    api: httpx.Client,
    venue: dict[str, Any],
    localstripe: LocalStripe,
    shots: Callable[[Page, str], Any],
) -> None:
    r = api.put("/api/admin/payment-account", json=ACCOUNT, headers=auth(venue["api_key"]))
    assert r.status_code == 200, r.text
    event_id = event_of()
    page = fan_page(event_id, go=False)
    sent_to_onsale: list[str] = []

    def watch(request: Request) -> None:
        if request.url.startswith(api.base_url.__str__().rstrip("/")):
            sent_to_onsale.append(f"{request.url} {request.post_data or ''}")

    page.on("request", watch)
    page.route(
        f"{localstripe.url}/v1/payment_intents/*/_authenticate*",
        confirm_at_stripe(localstripe, GOOD_CARD),
    )
    page.goto(f"{api.base_url}/e/{event_id}")
    page_ready(page)
    join_and_shop(page)
    page.get_by_test_id("seat-BALC-A-2").click()
    page.get_by_test_id("hold-submit").click()
    card = page.get_by_test_id("checkout-card")
    expect(card).to_be_visible()
    page.get_by_test_id("checkout-name").fill("Camille")
    page.get_by_test_id("checkout-email").fill("fan@example.org")
    # Stripe's element (localstripe's mock draws plain inputs in it).
    card.locator("input[placeholder=number]").fill(GOOD_CARD)
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    shots(page, "stripe card element")
    page.get_by_test_id("checkout-submit").click()
    # The mock's 3-D Secure modal.
    page.get_by_role("button", name="Complete authentication").click()
    confirmation = page.get_by_test_id("order-confirmation")
    expect(confirmation).to_contain_text("BALC-A-2", timeout=15_000)
    shots(page, "paid through stripe")

    payment_calls = [s for s in sent_to_onsale if "/payment " in s or "/checkout " in s]
    assert any('"provider":"stripe"' in s.replace(" ", "") for s in payment_calls)
    assert all(GOOD_CARD not in s for s in sent_to_onsale)
    orders = api.get(f"/api/admin/events/{event_id}/orders", headers=auth(venue["api_key"])).json()[
        "orders"
    ]
    assert [o["status"] for o in orders] == ["paid"]
    intent_ids = [
        json.loads(s.split(" ", 1)[1])["payment"]["payment_id"]
        for s in payment_calls
        if "/checkout " in s
    ]
    with httpx.Client(base_url=localstripe.url, auth=(SECRET_KEY, "")) as s:
        assert s.get(f"/v1/payment_intents/{intent_ids[-1]}").json()["status"] == "succeeded"


def test_the_venue_connects_stripe_in_its_page(
    new_page: Callable[..., Page],
    server: live_server.Server,
    api: httpx.Client,
    venue: dict[str, Any],
    shots: Callable[[Page, str], Any],
) -> None:
    from tests.e2e.test_admin_page import admin_page, assert_labelled, sign_in

    page, errors = admin_page(new_page(), server, "fr")
    sign_in(page, venue["api_key"])
    page.get_by_test_id("admin-payments").click()
    state = page.get_by_test_id("payments-state")
    expect(state).to_have_attribute("data-configured", "false")
    webhook_url = page.get_by_test_id("payments-webhook-url")
    expect(webhook_url).to_have_value(f"{server.url}/api/webhooks/stripe/{venue['id']}")
    assert_labelled(page)
    page.get_by_test_id("payments-publishable-key").fill(ACCOUNT["publishable_key"])
    page.get_by_test_id("payments-secret-key").fill(ACCOUNT["secret_key"])
    page.get_by_test_id("payments-webhook-secret").fill(ACCOUNT["webhook_secret"])
    page.get_by_test_id("payments-connect").click()
    expect(state).to_have_attribute("data-configured", "true")
    expect(state).to_contain_text(ACCOUNT["publishable_key"])
    # The secrets left the page once the server had them, and never come back.
    expect(page.get_by_test_id("payments-secret-key")).to_have_value("")
    page.reload()
    expect(page.get_by_test_id("payments-state")).to_have_attribute("data-configured", "true")
    html = page.content()
    assert ACCOUNT["secret_key"] not in html and ACCOUNT["webhook_secret"] not in html
    shots(page, "payments panel")
    got = api.get("/api/admin/payment-account", headers=auth(venue["api_key"])).json()
    assert got["configured"] is True
    assert errors == []
