"""Browser-side protection on every answer: the pages carry a strict
Content-Security-Policy (no inline script, no framing, no plugins, no
``<base>``), ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer``;
every answer, JSON and static files included, ``X-Content-Type-Options: nosniff``.

Before: none of these headers was sent (``KeyError: 'content-security-policy'``
on the fan page, ``KeyError: 'x-content-type-options'`` on the JSON answers).
"""

from __future__ import annotations

import httpx

from onsale.settings import Settings
from tests.conftest import Admit, MakeEvent, auth


def _directives(csp: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def _assert_page_protected(response: httpx.Response) -> None:
    h = response.headers
    csp = _directives(h["content-security-policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert "'unsafe-inline'" not in str(csp) and "'unsafe-eval'" not in str(csp)
    assert "'self'" in csp["script-src"] and "'self'" in csp["style-src"]
    host = response.request.url.netloc.decode()
    assert csp["connect-src"][:3] == ["'self'", f"ws://{host}", f"wss://{host}"]
    assert h["x-frame-options"] == "DENY"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-content-type-options"] == "nosniff"


async def test_pages_are_protected(client: httpx.AsyncClient, make_event: MakeEvent) -> None:
    event = await make_event()
    for path, status in ((f"/e/{event['id']}", 200), ("/e/ev_nope", 404), ("/admin", 200)):
        page = await client.get(path)
        assert page.status_code == status
        _assert_page_protected(page)


async def test_every_answer_says_nosniff(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    answers = [
        await client.get(f"/api/events/{event['id']}"),
        await client.get("/api/events/ev_nope"),  # an error answer
        await client.get("/nowhere"),  # not routed
        await client.post(f"/api/events/{event['id']}/holds", json={}),  # the hot route: 401
        await client.get("/static/style.css"),
        await client.get("/healthz"),
        await client.get("/openapi.json"),
    ]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url
    # the hot route's success too
    access = await admitted(event["id"])
    held = await client.post(
        f"/api/events/{event['id']}/holds", headers=auth(access), json={"seats": ["BALC-A-1"]}
    )
    assert held.status_code == 201
    assert held.headers["x-content-type-options"] == "nosniff"


def test_the_policy_lets_the_configured_stripe_js_in_and_nothing_else() -> None:
    from onsale.headers import content_security_policy

    strict = _directives(content_security_policy(Settings(stripe_js_url=""), "shop.example"))
    assert strict["script-src"] == ["'self'"]
    assert "frame-src" not in strict or strict["frame-src"] == ["'none'"]
    stripe = _directives(
        content_security_policy(Settings(stripe_js_url="https://js.stripe.com/v3/"), "shop.example")
    )
    assert stripe["script-src"] == ["'self'", "https://js.stripe.com"]
    assert "https://js.stripe.com" in stripe["frame-src"]
    assert "https://api.stripe.com" in stripe["connect-src"]
    local = _directives(
        content_security_policy(
            Settings(stripe_js_url="http://127.0.0.1:9999/v3/stripe.js"), "shop.example"
        )
    )
    assert local["script-src"] == ["'self'", "http://127.0.0.1:9999"]
    # A Host header is the caller's to choose: one that is not a plain
    # host[:port] does not reach the policy.
    hostile = content_security_policy(Settings(), "evil.example; script-src *")
    assert "evil" not in hostile and "script-src *" not in hostile
