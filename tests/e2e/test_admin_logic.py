"""The venue page's pure functions (time-zone conversion, money input, sales
per minute), run in the browser that runs the page: no JavaScript toolchain
beside Chromium."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page


@pytest.fixture
def run(server: Any, new_page: Callable[..., Page]) -> Callable[[str, str, Any], Any]:
    """``run(module, "(m, arg) => ...", arg)``: a function of an admin module."""
    page = new_page(timezone_id="Europe/Paris")
    page.goto(f"{server.url}/static/admin/dom.js")  # same origin, no app started

    def call(module: str, body: str, arg: Any = None) -> Any:
        script = (
            f"async (arg) => {{ const m = await import('/static/admin/{module}'); "
            f"return ({body})(m, arg); }}"
        )
        return page.evaluate(script, arg)

    return call


def test_local_times_become_utc_with_the_zone_of_the_browser(run: Callable[..., Any]) -> None:
    convert = "(m, v) => m.fromLocalInput(v)"
    assert run("eventform.js", convert, "2026-12-31T20:00") == "2026-12-31T19:00:00Z"  # CET
    assert run("eventform.js", convert, "2026-07-01T20:00") == "2026-07-01T18:00:00Z"  # CEST
    assert run("eventform.js", convert, "") is None
    back = "(m, v) => m.toLocalInput(v)"
    assert run("eventform.js", back, "2026-12-31T19:00:00Z") == "2026-12-31T20:00"
    assert run("eventform.js", back, "2026-07-01T18:00:00Z") == "2026-07-01T20:00"
    assert run("eventform.js", back, "") == ""


def test_money_and_integer_inputs(run: Callable[..., Any]) -> None:
    cents = "(m, v) => m.toCents(v)"
    assert run("eventform.js", cents, "25") == 2500
    assert run("eventform.js", cents, "25,5") == 2550
    assert run("eventform.js", cents, " 0.07 ") == 7
    assert run("eventform.js", cents, "") is None
    # Not money: sent as typed, so the API names the field.
    assert run("eventform.js", cents, "12.345") == "12.345"
    assert run("eventform.js", cents, "-3") == "-3"
    ints = "(m, v) => m.toInt(v)"
    assert run("eventform.js", ints, "600") == 600
    assert run("eventform.js", ints, "6.5") == "6.5"
    assert run("eventform.js", ints, " ") is None


def order(created_at: str, *statuses: str) -> dict[str, Any]:
    return {"created_at": created_at, "tickets": [{"status": s} for s in statuses]}


def test_sales_per_minute_count_live_tickets_in_their_minute(run: Callable[..., Any]) -> None:
    orders = [
        order("2026-11-28T20:10:05Z", "live", "live"),
        order("2026-11-28T20:10:59Z", "live"),
        order("2026-11-28T20:12:00Z", "void"),  # refunded: off the chart
        order("2026-11-28T20:13:30Z", "live"),
        order("2026-11-28T19:40:00Z", "live"),  # before the window
    ]
    now = "2026-11-28T20:13:45Z"
    buckets = run(
        "chart.js",
        "(m, a) => m.perMinute(a.orders, Date.parse(a.now), 5)",
        {"orders": orders, "now": now},
    )
    assert [b["count"] for b in buckets] == [0, 3, 0, 0, 1]
    svg = run(
        "chart.js",
        "(m, a) => { const el = m.salesChart(m.perMinute(a.orders, Date.parse(a.now), 5));"
        " return [el.dataset.total, el.dataset.peak, el.querySelectorAll('rect').length]; }",
        {"orders": orders, "now": now},
    )
    assert svg == ["4", "3", 5]
