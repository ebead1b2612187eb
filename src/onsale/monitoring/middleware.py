"""Per-request metrics and the failure log line, in the app's one middleware.

Each HTTP request gets a request id (the caller's ``X-Request-ID`` when it is
a short plain token, else a new one), sent back in ``X-Request-ID`` and put on
every log line written while it is served. When the answer is sent the
middleware counts it by route template (``scope["route"]``, which Starlette's
router sets when it matches: never the raw path, which holds ids), method and
status, and times it. An error answer (4xx, 5xx) is counted by the ``code`` of
its JSON body and logged once, with its code, status, route and event id.
Every answer also gets ``onsale.headers.EVERY_ANSWER`` (``nosniff``), the hot
routes' included: a precomputed tuple, added to a list built anyway.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onsale.headers import EVERY_ANSWER
from onsale.http import failure_response
from onsale.monitoring import logs, metrics, timing

log = logging.getLogger("onsale.requests")

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CODES = frozenset(metrics.error_codes())
# Error bodies are small; more than this is not one of ours.
MAX_ERROR_BODY = 4096


def route_template(scope: Scope) -> str:
    """The path template of the route that matched (``/api/events/{event_id}``),
    or ``unmatched``."""
    path: object = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


def request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = bytes(value).decode("latin-1")
            if _REQUEST_ID.match(given):
                return given
    return secrets.token_hex(8)


def error_code(body: bytes) -> str:
    """The ``error.code`` of an error body, if it is one of the known codes."""
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "unknown"
    return code if isinstance(code, str) and code in _CODES else "unknown"


@dataclass
class _Answer:
    """What was answered, as far as the middleware saw it."""

    status: int = 500  # until a response starts: a request that fails before
    body: bytearray = field(default_factory=bytearray)  # of an error answer


class RequestMonitor:
    """The app's one middleware (inside Starlette's own): request id, metrics
    and the failure log line of every HTTP request; the JSON answer of every
    exception raised before a response started (``onsale.http.failure_response``).
    The hot routes are served further in, by ``onsale.http.HotRoutes``.

    Few middlewares, not a chain of them: each ASGI layer that wraps ``send``
    costs a closure per request, which a hold on a hot sale can hardly spare.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        rid_token = logs.REQUEST_ID.set(rid)
        event_token = logs.EVENT_ID.set(None)
        started = time.perf_counter()
        answer = _Answer()
        try:
            await self._serve(scope, receive, send, rid, answer)
        finally:
            self._record(scope, answer.status, time.perf_counter() - started, bytes(answer.body))
            logs.EVENT_ID.reset(event_token)
            logs.REQUEST_ID.reset(rid_token)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, rid: str, answer: _Answer
    ) -> None:
        started = False

        async def monitored_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                answer.status = int(message["status"])
                headers = [
                    *message.get("headers", ()),
                    *EVERY_ANSWER,
                    (b"x-request-id", rid.encode()),
                ]
                message = {**message, "headers": headers}
            elif answer.status >= 400 and len(answer.body) < MAX_ERROR_BODY:
                answer.body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, monitored_send)
        except Exception as exc:
            if started:
                raise
            await failure_response(exc, scope.get("path"))(scope, receive, monitored_send)

    def _record(self, scope: Scope, status: int, seconds: float, body: bytes) -> None:
        route = route_template(scope)
        method = scope["method"] if scope["method"] in METHODS else "other"
        timing.child(metrics.HTTP_REQUESTS, route, method, str(status)).inc()
        timing.child(metrics.HTTP_REQUEST_SECONDS, route, method).observe(seconds)
        if status < 400:
            return
        code = error_code(body)
        timing.child(metrics.HTTP_ERRORS, code).inc()
        if logs.EVENT_ID.get() is None:
            event_id = scope.get("path_params", {}).get("event_id")
            if isinstance(event_id, str) and event_id.isprintable() and len(event_id) <= 64:
                logs.bind_event(event_id)
        fields: dict[str, Any] = {
            "code": code,
            "status": status,
            "route": route,
            "method": method,
            "duration_ms": round(seconds * 1000, 3),
        }
        level = logging.WARNING if status >= 500 else logging.INFO
        log.log(level, "request failed: %d %s %s %s", status, code, method, route, extra=fields)
