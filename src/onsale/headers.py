"""The browser-side protection onsale's answers carry.

Every answer (JSON, static files, errors, the hot routes) says
``X-Content-Type-Options: nosniff``: a browser must not guess that a JSON body
echoing a fan's input is HTML or script. The pages add a strict
Content-Security-Policy (:func:`content_security_policy`: scripts and styles
from onsale's own files only, no inline code, no plugins, no ``<base>``, no
framing), ``X-Frame-Options: DENY`` for browsers without CSP's
``frame-ancestors``, and ``Referrer-Policy: no-referrer`` (links out of a page
must not carry its address, nor onsale's addresses their tokens).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from onsale.settings import Settings

# On every answer; precomputed, as the hot routes add them to each hold.
EVERY_ANSWER: tuple[tuple[bytes, bytes], ...] = ((b"x-content-type-options", b"nosniff"),)

# What may appear in the policy as this server's own address: a DNS name or an
# IPv4 address with an optional port, or a bracketed IPv6 address. The Host
# header is the caller's to choose; anything else is left out of the policy.
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")

# Stripe.js from Stripe itself frames its card fields from these and talks to
# Stripe's API from the page (https://docs.stripe.com/security/guide#content-security-policy).
_STRIPE_FRAMES = ("https://*.js.stripe.com", "https://hooks.stripe.com")
_STRIPE_CONNECT = ("https://api.stripe.com",)


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not _HOST.match(parts.netloc):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings, host: str | None) -> str:
    """The pages' policy. ``host`` is the address the page was asked for (its
    websocket goes there: ``'self'`` covers ws/wss only in CSP level 3
    browsers); ``settings.stripe_js_url``'s origin may run its script, frame
    its card fields and be called."""
    scripts, frames, connect = ["'self'"], [], ["'self'"]
    if host and _HOST.match(host):
        connect += [f"ws://{host}", f"wss://{host}"]
    stripe = _origin(settings.stripe_js_url) if settings.stripe_js_url else None
    if stripe:
        scripts.append(stripe)
        frames.append(stripe)
        connect.append(stripe)
        if stripe == "https://js.stripe.com":
            frames += _STRIPE_FRAMES
            connect += _STRIPE_CONNECT
    directives = [
        ("default-src", ["'self'"]),
        ("script-src", scripts),
        ("style-src", ["'self'"]),
        ("img-src", ["'self'"]),
        ("connect-src", connect),
        ("frame-src", frames or ["'none'"]),
        ("frame-ancestors", ["'none'"]),
        ("object-src", ["'none'"]),
        ("base-uri", ["'none'"]),
        ("form-action", ["'self'"]),
    ]
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives)


def page_headers(settings: Settings, host: str | None) -> dict[str, str]:
    """The headers of an HTML page (``EVERY_ANSWER`` comes from the middleware)."""
    return {
        "Content-Security-Policy": content_security_policy(settings, host),
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }
