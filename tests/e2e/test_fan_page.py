"""The fan's page in a real browser against a real server: queue, seats,
checkout and tickets, as fans meet them (API.md "Pages" testids only)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, Route, WebSocketRoute, expect

from onsale.queue import guard
from tests import live_server
from tests.conftest import auth
from tests.e2e.conftest import page_ready

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
# Admission runs once a second on the server; allow for a slow, shared machine.
ADMIT_MS = 20_000

Shots = Callable[[Page, str], Path]


# WCAG 2 contrast of every visible piece of text against the first opaque
# background behind it: 4.5:1, or 3:1 for large text (24 px, or 18.7 px bold).
LOW_CONTRAST_JS = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].filter((n) => n.nodeType === 3);
    const text = own.map((n) => n.textContent).join("").trim();
    if (!text || !el.checkVisibility({ visibilityProperty: true })) continue;
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgb(style.color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) bad.push(`${text.slice(0, 30)}: ${ratio.toFixed(2)}`);
  }
  return bad;
}"""


def assert_readable(page: Page) -> None:
    assert page.evaluate(LOW_CONTRAST_JS) == []


def join_and_shop(page: Page) -> None:
    page.get_by_test_id("queue-join").click()
    expect(page.get_by_test_id("hold-submit")).to_be_visible(timeout=ADMIT_MS)


def pay(page: Page, card: str, name: str = "Camille Martin") -> None:
    page.get_by_test_id("checkout-name").fill(name)
    page.get_by_test_id("checkout-email").fill("camille@example.org")
    page.get_by_test_id("checkout-card").fill(card)
    page.get_by_test_id("checkout-submit").click()


def seat(page: Page, seat_id: str) -> Locator:
    return page.get_by_test_id(f"seat-{seat_id}")


def test_prequeue_to_tickets_and_reload(
    event_of: Callable[..., str], fan_page: Callable[..., Page], shots: Shots
) -> None:
    event_id = event_of(opens_in=8, prequeue_in=-60)
    page = fan_page(event_id)
    expect(page.get_by_test_id("queue-join")).to_be_visible()
    shots(page, "prequeue open")
    page.get_by_test_id("queue-join").click()
    expect(page.get_by_test_id("queue-state")).to_have_text("prequeue")
    page.reload()  # the place survives a reload: no join button, same state
    expect(page.get_by_test_id("queue-state")).to_have_text("prequeue")
    expect(page.get_by_test_id("queue-join")).to_be_hidden()
    page.locator("#draw summary").click()
    expect(page.locator("#draw-commitment")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    assert_readable(page)
    shots(page, "in the pre-queue")

    expect(page.get_by_test_id("hold-submit")).to_be_visible(timeout=ADMIT_MS)
    expect(page.get_by_test_id("queue-state")).to_have_text("admitted")
    for seat_id in ("BALC-A-3", "BALC-A-4"):
        seat(page, seat_id).click()
        expect(seat(page, seat_id)).to_have_attribute("aria-pressed", "true")
    shots(page, "two seats chosen")
    page.get_by_test_id("hold-submit").click()
    expect(page.get_by_test_id("hold-expires")).to_have_text(re.compile(r"^\d+:\d\d$"))
    expect(seat(page, "BALC-A-3")).to_have_attribute("data-state", "mine")
    expect(page.locator("#breakdown")).to_contain_text("€52.00")
    assert_readable(page)
    shots(page, "held")

    pay(page, GOOD_CARD)
    confirmation = page.get_by_test_id("order-confirmation")
    expect(confirmation).to_be_visible()
    expect(page.get_by_test_id("ticket")).to_have_count(2)
    order_id = confirmation.get_attribute("data-order-id")
    assert order_id and order_id in confirmation.inner_text()
    expect(page.locator("[data-testid=ticket] svg")).to_have_count(2)
    assert_readable(page)
    shots(page, "tickets")

    page.reload()
    expect(page.get_by_test_id("ticket")).to_have_count(2)
    expect(page.get_by_test_id("order-confirmation")).to_contain_text(order_id)
    page.locator("#draw summary").click()
    page.locator("#draw-check").click()  # the fan checks the draw in the browser
    expect(page.locator("#draw-result")).to_contain_text("You were drawn number 1 of 1")
    shots(page, "tickets after reload, draw checked")


def test_a_dropped_connection_reconnects_and_keeps_the_place(
    server: live_server.Server,
    api: httpx.Client,
    event_of: Callable[..., str],
    fan_page: Callable[..., Page],
    shots: Shots,
) -> None:
    # Two seats, one shopper at a time: the first fan shops, the second waits
    # ahead of the page's fan, who is likely to find the seats gone.
    event_id = event_of(max_active=1, ga=0, rows={"A": 2})
    for _ in range(2):
        r = api.post(f"/api/events/{event_id}/queue", json={})
        assert r.status_code == 201, r.text
    page = fan_page(event_id, go=False)
    sockets: list[WebSocketRoute] = []

    def route(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        if len(sockets) == 2:
            ws.close()  # the first retry fails too: the page backs off and tries again
        else:
            ws.connect_to_server()

    page.route_web_socket(re.compile(r"/ws/events/"), route)
    page.goto(f"{server.url}/e/{event_id}")
    page.get_by_test_id("queue-join").click()
    expect(page.get_by_test_id("queue-state")).to_have_text("waiting")
    expect(page.get_by_test_id("queue-position")).to_have_text("2")
    expect(page.get_by_test_id("queue-eta")).to_contain_text("less than a minute")
    expect(page.get_by_test_id("queue-eta")).to_contain_text("probably buy every remaining")
    token = page.evaluate(f"JSON.parse(localStorage['onsale.fan.{event_id}']).queueToken")
    shots(page, "waiting")

    sockets[0].close(code=1011, reason="network drop")
    expect(page.locator("#queue-reconnecting")).to_be_visible()
    assert_readable(page)
    shots(page, "connection lost")
    expect(page.locator("#queue-reconnecting")).to_be_hidden(timeout=10_000)
    assert len(sockets) == 3
    # The same place: a new entry would stand behind the old one, at 3.
    expect(page.get_by_test_id("queue-position")).to_have_text("2")
    assert token == page.evaluate(f"JSON.parse(localStorage['onsale.fan.{event_id}']).queueToken")
    shots(page, "reconnected, same place")


def test_two_fans_race_for_one_seat(
    event_of: Callable[..., str], fan_page: Callable[..., Page], shots: Shots
) -> None:
    event_id = event_of()
    fans = [fan_page(event_id), fan_page(event_id)]
    for page in fans:
        join_and_shop(page)
        seat(page, "BALC-B-5").click()
    for page in fans:  # both requests leave before either answer is shown
        page.get_by_test_id("hold-submit").click(no_wait_after=True)
    outcomes = []
    for page in fans:
        either = "[data-testid=hold-expires]:visible, [data-testid=error-message]:visible"
        expect(page.locator(either)).to_have_count(1)
        outcomes.append(page.get_by_test_id("hold-expires").is_visible())
    assert sorted(outcomes) == [False, True], outcomes
    winner, loser = (fans[0], fans[1]) if outcomes[0] else (fans[1], fans[0])
    expect(loser.get_by_test_id("error-message")).to_contain_text("taken")
    expect(loser.get_by_test_id("error-message")).to_contain_text("BALC-B-5")
    expect(seat(loser, "BALC-B-5")).to_have_attribute("data-state", "held")
    expect(seat(loser, "BALC-B-5")).to_have_attribute("aria-pressed", "false")
    expect(seat(winner, "BALC-B-5")).to_have_attribute("data-state", "mine")
    assert_readable(loser)
    shots(winner, "winner")
    shots(loser, "loser sees the seat taken")


def test_declined_card_then_a_good_one_on_the_same_hold(
    api: httpx.Client,
    venue: dict[str, Any],
    event_of: Callable[..., str],
    fan_page: Callable[..., Page],
    shots: Shots,
) -> None:
    event_id = event_of()
    phone = {"width": 390, "height": 844}
    page = fan_page(event_id, viewport=phone, is_mobile=True, has_touch=True)
    join_and_shop(page)
    page.get_by_test_id("ga-quantity").fill("2")
    page.get_by_test_id("hold-submit").click()
    expires = page.get_by_test_id("hold-expires")
    expect(expires).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= phone["width"]
    hold_of = f"JSON.parse(localStorage['onsale.fan.{event_id}']).hold.hold_id"
    hold_id = page.evaluate(hold_of)

    pay(page, DECLINED_CARD)
    expect(page.get_by_test_id("error-message")).to_contain_text("declined")
    expect(expires).to_be_visible()
    expect(page.get_by_test_id("checkout-card")).to_be_focused()
    assert_readable(page)
    shots(page, "declined")
    page.reload()  # the hold survives a reload too
    expect(expires).to_be_visible()
    assert page.evaluate(hold_of) == hold_id

    # The answer to the good card is lost on its way back: the fan pays again
    # with the same form, hence the same Idempotency-Key, and gets one order.
    keys: list[str] = []

    def lose_first_answer(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            route.fetch()  # the server takes the payment...
            route.abort()  # ...and the page never hears of it
        else:
            route.continue_()

    page.route("**/api/holds/*/checkout", lose_first_answer)
    pay(page, GOOD_CARD)
    expect(page.get_by_test_id("error-message")).to_contain_text("Network problem")
    shots(page, "answer lost")
    page.get_by_test_id("checkout-submit").click()
    expect(page.get_by_test_id("ticket")).to_have_count(2)
    expect(page.get_by_test_id("error-message")).to_be_hidden()
    assert len(keys) == 2 and keys[0] == keys[1]
    orders = api.get(f"/api/admin/events/{event_id}/orders", headers=auth(venue["api_key"]))
    assert [len(o["tickets"]) for o in orders.json()["orders"]] == [2]
    shots(page, "paid with the second card")


@pytest.mark.timeout(90)
def test_hold_that_expires_in_the_page(
    event_of: Callable[..., str], fan_page: Callable[..., Page], shots: Shots
) -> None:
    event_id = event_of(hold_seconds=30)
    page = fan_page(event_id)
    join_and_shop(page)
    seat(page, "BALC-A-1").click()
    page.get_by_test_id("hold-submit").click()
    expect(page.get_by_test_id("hold-expires")).to_be_visible()
    shots(page, "held for 30 s")
    expect(page.get_by_test_id("error-message")).to_contain_text("expired", timeout=45_000)
    expect(page.get_by_test_id("hold-expires")).to_be_hidden()
    expect(page.get_by_test_id("hold-submit")).to_be_visible()
    expect(seat(page, "BALC-A-1")).to_have_attribute("data-state", "free")
    shots(page, "back to seat choice")


def test_french_keyboard_only_with_proof_of_work_and_no_websocket(
    server: live_server.Server,
    event_of: Callable[..., str],
    fan_page: Callable[..., Page],
    shots: Shots,
) -> None:
    event_id = event_of(language="fr", pow_difficulty=12, ga=0)
    page = fan_page(event_id, go=False)
    # A network that lets no websocket through: the status poll takes over.
    page.route_web_socket(re.compile(r"/ws/events/"), lambda ws: ws.close())
    page.goto(f"{server.url}/e/{event_id}")
    page_ready(page)
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_test_id("queue-join")).to_have_text("Entrer dans la file")
    page.get_by_test_id("queue-join").focus()
    page.keyboard.press("Enter")  # solves the proof of work, then joins
    expect(page.get_by_test_id("hold-submit")).to_be_visible(timeout=ADMIT_MS)
    expect(page.locator("#shop-title")).to_be_focused()

    page.keyboard.press("Tab")  # into the map: its first seat
    expect(seat(page, "BALC-A-1")).to_be_focused()
    focus_ring = seat(page, "BALC-A-1").evaluate("b => getComputedStyle(b).outlineStyle")
    assert focus_ring == "solid"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    for seat_id in ("BALC-A-2", "BALC-B-2"):
        expect(seat(page, seat_id)).to_have_attribute("aria-pressed", "true")
    label = seat(page, "BALC-B-2").get_attribute("aria-label")
    assert label == "Section BALC, rang B, place 2, choisie"
    shots(page, "chosen with the keyboard")
    for _ in range(6):  # past the best-available picker to the hold button
        page.keyboard.press("Tab")
        if page.get_by_test_id("hold-submit").evaluate("b => b === document.activeElement"):
            break
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("hold-expires")).to_be_visible()
    expect(page.locator("#breakdown")).to_contain_text("52,00\u00a0€")
    expect(page.get_by_test_id("checkout-name")).to_have_accessible_name("Nom complet")
    shots(page, "held, in French")

    page.get_by_role("link", name="Read this page in English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_test_id("hold-expires")).to_be_visible()  # the hold survives
    expect(page.get_by_test_id("checkout-name")).to_have_accessible_name("Full name")
    shots(page, "switched to English")


def test_before_the_prequeue_a_countdown_and_no_join(
    event_of: Callable[..., str], fan_page: Callable[..., Page], shots: Shots
) -> None:
    event_id = event_of(prequeue_in=3600, opens_in=7200)
    page = fan_page(event_id)
    expect(page.locator("#before-countdown")).to_have_text(re.compile(r"It opens in 59:\d\d\."))
    expect(page.locator("#event-facts")).to_contain_text("Waiting room opens")
    expect(page.get_by_test_id("queue-join")).to_be_hidden()
    shots(page, "countdown")


def test_plain_javascript_hashes_match_python(
    server: live_server.Server, new_page: Callable[..., Page]
) -> None:
    """Over plain http (a phone on the venue's network) browsers hide
    crypto.subtle; the page's own SHA-256 and HMAC then solve the proof of work
    and check the draw. They must agree with Python's."""
    texts = ["", "abc", "a" * 55, "a" * 56, "a" * 64, "é" * 100, "x" * 1000]
    keys = ["seed", "k" * 100]
    page = new_page()
    page.goto(f"{server.url}/e/nothing-here")  # any page of the origin
    out = page.evaluate(
        """async ([texts, keys]) => {
          const { sha256, hmacSha256 } = await import("/static/fan/sha256.js");
          const { solve } = await import("/static/fan/pow.js");
          const enc = new TextEncoder();
          const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
          const mac = (k, s) => hex(hmacSha256(enc.encode(k), enc.encode(s)));
          return {
            digests: texts.map((s) => hex(sha256(enc.encode(s)))),
            macs: keys.flatMap((k) => texts.map((s) => mac(k, s))),
            nonce: await solve("e.1.ab.cd", 10, async (b) => sha256(b)),
          };
        }""",
        [texts, keys],
    )
    assert out["digests"] == [hashlib.sha256(s.encode()).hexdigest() for s in texts]
    assert out["macs"] == [
        hmac.new(k.encode(), s.encode(), hashlib.sha256).hexdigest() for k in keys for s in texts
    ]
    assert out["nonce"] == guard.solve("e.1.ab.cd", 10)


def test_a_shopping_fan_page_says_the_fan_is_there(
    event_of: Callable[..., str], fan_page: Callable[..., Page]
) -> None:
    """Issue 11: the page beats (``POST .../presence``, 204) every few seconds
    while the fan shops, so that the slot of a fan who closed the tab goes to
    the next fan after the shopper grace, and only then."""
    event_id = event_of()
    page = fan_page(event_id)
    beats: list[int] = []

    def on_response(response: Any) -> None:
        if response.request.method == "POST" and response.url.endswith("/presence"):
            beats.append(response.status)

    page.on("response", on_response)
    join_and_shop(page)
    page.wait_for_timeout(11_500)
    assert len(beats) >= 2 and set(beats) == {204}, beats


def test_a_waiting_fan_is_told_every_ticket_left_is_held(
    event_of: Callable[..., str], fan_page: Callable[..., Page]
) -> None:
    """Issue 11: with every place held, the wait is for the first hold to end."""
    event_id = event_of(ga=1, rows={})
    holder = fan_page(event_id)
    join_and_shop(holder)
    holder.get_by_test_id("ga-quantity").fill("1")
    holder.get_by_test_id("hold-submit").click()
    expect(holder.get_by_test_id("hold-expires")).to_be_visible()
    waiting = fan_page(event_id)
    waiting.get_by_test_id("queue-join").click()
    expect(waiting.get_by_test_id("queue-state")).to_have_text("waiting")
    expect(waiting.get_by_test_id("queue-eta")).to_contain_text("held by another fan")
    expect(waiting.locator("#queue-sold-out-risk")).to_be_hidden()  # the hold may come back
