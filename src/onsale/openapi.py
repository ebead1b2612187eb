"""The machine-readable form of API.md, served at ``GET /openapi.json``.

(Over 450 lines on purpose: most of it is one table, a row per operation,
read side by side with API.md; the builder that turns it into OpenAPI is
short.)"""

from __future__ import annotations

from typing import Any

from onsale.errors import OnsaleError
from onsale.http import HTTP_CODES
from onsale.openapi_schemas import BODIES, SCHEMAS, WEBSOCKETS, ref

# (method, path, summary, auth, success status, error statuses)
OPERATIONS: list[tuple[str, str, str, str, int, tuple[int, ...]]] = [
    ("get", "/healthz", "Process alive", "", 200, ()),
    ("get", "/readyz", "Redis and Postgres reachable (503 too while draining)", "", 200, (503,)),
    (
        "get",
        "/metrics",
        "Prometheus metrics (Bearer ONSALE_METRICS_TOKEN when set)",
        "",
        200,
        (401,),
    ),
    ("get", "/openapi.json", "This document", "", 200, ()),
    (
        "post",
        "/api/admin/venues",
        "Create a venue (platform token)",
        "platform",
        201,
        (400, 401, 409, 413, 422),
    ),
    ("post", "/api/admin/events", "Create an event", "venue", 201, (400, 401, 413, 422)),
    ("get", "/api/admin/events", "List the venue's events", "venue", 200, (401,)),
    ("get", "/api/admin/events/{event_id}", "An event", "venue", 200, (401, 404)),
    (
        "patch",
        "/api/admin/events/{event_id}",
        "Change an event",
        "venue",
        200,
        (400, 401, 404, 413, 422),
    ),
    (
        "get",
        "/api/admin/events/{event_id}/stats",
        "Live figures of an event",
        "venue",
        200,
        (401, 404),
    ),
    (
        "get",
        "/api/admin/events/{event_id}/orders",
        "Orders (JSON, or CSV with Accept: text/csv)",
        "venue",
        200,
        (401, 404),
    ),
    ("get", "/api/admin/events/{event_id}/orders.csv", "Orders as CSV", "venue", 200, (401, 404)),
    (
        "post",
        "/api/admin/events/{event_id}/boxoffice",
        "Sell at the counter",
        "venue",
        201,
        (400, 401, 402, 404, 409, 413, 422),
    ),
    (
        "post",
        "/api/admin/orders/{order_id}/refund",
        "Refund an order",
        "venue",
        200,
        (401, 404, 503),
    ),
    (
        "get",
        "/api/admin/venue-keys",
        "The venue's keys (never a key itself)",
        "venue",
        200,
        (401,),
    ),
    (
        "post",
        "/api/admin/venue-keys/rotate",
        "A new venue key; the calling key works until previous_expires_at",
        "venue",
        201,
        (400, 401, 403, 413, 422),
    ),
    (
        "delete",
        "/api/admin/venue-keys/{key_id}",
        "Revoke one of the venue's keys at once",
        "venue",
        204,
        (401, 403, 404, 409),
    ),
    (
        "post",
        "/api/admin/venues/{venue_id}/keys",
        "Issue a venue a new key, optionally revoking the others (platform token)",
        "platform",
        201,
        (400, 401, 404, 413, 422),
    ),
    (
        "put",
        "/api/admin/payment-account",
        "Connect the venue's own Stripe account (secrets never returned)",
        "venue",
        200,
        (400, 401, 403, 413, 422),
    ),
    ("get", "/api/admin/payment-account", "The venue's payment account", "venue", 200, (401, 403)),
    (
        "post",
        "/api/holds/{hold_id}/payment",
        "A Stripe PaymentIntent for the hold's total (Idempotency-Key)",
        "access",
        201,
        (400, 401, 403, 404, 409, 413, 422, 429),
    ),
    (
        "post",
        "/api/webhooks/stripe/{venue_id}",
        "Stripe's events for a venue (Stripe-Signature)",
        "",
        200,
        (400, 413),
    ),
    (
        "post",
        "/api/admin/venues/{venue_id}/suspend",
        "Suspend a venue: its keys get 403, its events are not on sale (platform token)",
        "platform",
        200,
        (401, 404),
    ),
    (
        "post",
        "/api/admin/venues/{venue_id}/resume",
        "Resume a suspended venue (platform token)",
        "platform",
        200,
        (401, 404),
    ),
    ("get", "/api/admin/me", "Who the key is: venue, role, what it may do", "venue", 200, (401,)),
    (
        "post",
        "/api/admin/staff",
        "A staff member and their key, shown once (manager)",
        "venue",
        201,
        (400, 401, 413, 422),
    ),
    ("get", "/api/admin/staff", "The venue's staff (manager)", "venue", 200, (401,)),
    (
        "delete",
        "/api/admin/staff/{staff_id}",
        "Revoke a staff member's keys at once (manager)",
        "venue",
        204,
        (401, 404, 409),
    ),
    (
        "get",
        "/api/admin/audit",
        "The venue's audit log, newest first (manager)",
        "venue",
        200,
        (401, 422),
    ),
    (
        "get",
        "/api/admin/buyers",
        "Everything the venue holds about a buyer (?email=, manager)",
        "venue",
        200,
        (401, 422),
    ),
    (
        "post",
        "/api/admin/buyers/erase",
        "Anonymize a buyer everywhere the venue keeps them (manager)",
        "venue",
        200,
        (400, 401, 413, 422),
    ),
    ("get", "/api/admin/consents", "The opted-in contacts (manager)", "venue", 200, (401,)),
    (
        "get",
        "/api/admin/consents.csv",
        "The opted-in contacts as CSV (manager)",
        "venue",
        200,
        (401,),
    ),
    (
        "get",
        "/api/admin/venue-settings",
        "Consent wording and privacy notice",
        "venue",
        200,
        (401,),
    ),
    (
        "put",
        "/api/admin/venue-settings",
        "Set the consent wording and privacy notice (manager)",
        "venue",
        200,
        (400, 401, 413, 422),
    ),
    (
        "get",
        "/api/events/{event_id}/privacy",
        "The event's venue's consent question and privacy notice",
        "",
        200,
        (404,),
    ),
    ("get", "/privacy/{venue_id}", "A venue's privacy notice (HTML)", "", 200, ()),
    ("get", "/consent/withdraw", "Withdraw marketing consent: the page (HTML)", "", 200, ()),
    ("post", "/consent/withdraw", "Withdraw marketing consent (HTML)", "", 200, ()),
    ("get", "/api/events/{event_id}", "Public event info", "", 200, (404,)),
    (
        "get",
        "/api/events/{event_id}/seats",
        "Seat map with live states (gzip, ETag: 304 to If-None-Match; ?section=CODE)",
        "",
        200,
        (404, 422),
    ),
    (
        "post",
        "/api/events/{event_id}/queue",
        "Join the queue (or find one's place)",
        "queue",
        201,
        (400, 401, 403, 404, 409, 413, 429),
    ),
    (
        "delete",
        "/api/events/{event_id}/queue",
        "Leave: free one's shopper slot",
        "queue",
        204,
        (401, 403, 404),
    ),
    (
        "get",
        "/api/events/{event_id}/queue/status",
        "Where the fan stands",
        "queue",
        200,
        (401, 403, 404),
    ),
    (
        "get",
        "/api/events/{event_id}/queue/challenge",
        "A proof-of-work challenge for the next join",
        "",
        200,
        (404,),
    ),
    (
        "post",
        "/api/events/{event_id}/presence",
        "An admitted shopper's page is still there (extension; every few seconds)",
        "access",
        204,
        (401, 403, 404),
    ),
    (
        "get",
        "/api/events/{event_id}/draw",
        "The pre-queue draw: commitment, then seed and order",
        "",
        200,
        (404,),
    ),
    (
        "post",
        "/api/events/{event_id}/holds",
        "Hold seats or places",
        "access",
        201,
        (400, 401, 403, 404, 409, 413, 422),
    ),
    ("delete", "/api/holds/{hold_id}", "Release a hold", "access", 204, (401, 403, 404, 409)),
    (
        "post",
        "/api/holds/{hold_id}/checkout",
        "Pay for a hold (Idempotency-Key header)",
        "access",
        201,
        (400, 401, 402, 403, 404, 409, 413, 422, 429, 503),
    ),
    ("get", "/api/orders/{order_id}", "An order (order token)", "order", 200, (401, 403, 404)),
    ("get", "/e/{event_id}", "The fan's page (HTML)", "", 200, ()),
    ("get", "/admin", "The venue's page (HTML; signs in with the venue key)", "", 200, ()),
    (
        "post",
        "/api/admin/events/{event_id}/door-keys",
        "A door key for this event (shown once)",
        "venue",
        201,
        (400, 401, 404, 413, 422),
    ),
    (
        "get",
        "/api/admin/events/{event_id}/door-keys",
        "The event's door keys",
        "venue",
        200,
        (401, 404),
    ),
    (
        "delete",
        "/api/admin/events/{event_id}/door-keys/{key_id}",
        "Revoke a door key",
        "venue",
        204,
        (401, 404),
    ),
    (
        "get",
        "/api/admin/events/{event_id}/door",
        "Checked in per gate, and the double entries of offline scanners",
        "venue",
        200,
        (401, 404),
    ),
    (
        "post",
        "/api/admin/orders/{order_id}/resend",
        "Send an order's e-mail again",
        "venue",
        202,
        (401, 404),
    ),
    ("post", "/api/door/scan", "Scan a ticket (door key)", "door", 200, (400, 401, 413, 422)),
    ("get", "/api/door/bundle", "What a door device needs offline (door key)", "door", 200, (401,)),
    ("get", "/door", "The door staff's page (HTML)", "", 200, ()),
    ("get", "/o/{order_id}", "The order page (HTML; the order token in the fragment)", "", 200, ()),
]


# The pages (HTML, not JSON).
PAGES = {
    "/e/{event_id}",
    "/admin",
    "/privacy/{venue_id}",
    "/consent/withdraw",
    "/door",
    "/o/{order_id}",
}
# Answers that repeat an earlier success: the same queue entry again, the same
# checkout (same Idempotency-Key and body) again.
REPLAYS = {
    ("post", "/api/events/{event_id}/queue"): 200,
    ("post", "/api/holds/{hold_id}/checkout"): 200,
}


def _error_codes() -> list[str]:
    # The codes the HTTP edge itself answers with (unknown route, wrong method).
    seen: list[str] = list(HTTP_CODES.values())
    stack: list[type[OnsaleError]] = [OnsaleError]
    while stack:
        cls = stack.pop()
        if cls.code not in seen and cls.code != "internal_error":
            seen.append(cls.code)
        stack.extend(cls.__subclasses__())
    return sorted(seen)


def _operation(
    summary: str, auth: str, ok: int, errors: tuple[int, ...], path: str
) -> dict[str, Any]:
    if auth == "venue" and 403 not in errors:
        # A role that may not, or a suspended venue (admin.access.require).
        errors = (*errors, 403)
    if path.startswith("/api/") and 503 not in errors:
        # Every API answer needs Redis or Postgres, either of which may be down.
        errors = (*errors, 503)
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            str(ok): {"description": "OK"},
            **{
                str(s): {
                    "description": "Error",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
                for s in errors
            },
        },
    }
    params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
    if params:
        op["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ]
    if auth:
        op["security"] = [{auth: []}]
    return op


def spec() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, auth, ok, errors in OPERATIONS:
        op = _operation(summary, auth, ok, errors, path)
        request, answer = BODIES.get((method, path), (None, None))
        if request:
            op["requestBody"] = {"content": {"application/json": {"schema": ref(request)}}}
        if answer:
            op["responses"][str(ok)]["content"] = {"application/json": {"schema": ref(answer)}}
        elif path in PAGES:
            op["responses"][str(ok)]["content"] = {"text/html": {"schema": {"type": "string"}}}
        if (method, path) in REPLAYS:
            op["responses"][str(REPLAYS[method, path])] = {"description": "OK, again"}
        paths.setdefault(path, {})[method] = op
    bearer = {"type": "http", "scheme": "bearer"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "onsale",
            "version": "0.1.0",
            "description": "On-sale system for concert venues. See API.md.",
        },
        "paths": paths,
        "x-websockets": WEBSOCKETS,
        "components": {
            "securitySchemes": {
                k: bearer for k in ("platform", "venue", "queue", "access", "order", "door")
            },
            "schemas": {
                **SCHEMAS,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message", "details"],
                            "properties": {
                                "code": {"type": "string", "enum": _error_codes()},
                                "message": {"type": "string"},
                                "details": {"type": "object"},
                            },
                        }
                    },
                },
            },
        },
    }
