"""The HTTP edge's shared pieces: reading bodies, answering errors, tokens.

Domain errors become the JSON error body of API.md here and nowhere else; a
backend that is down becomes 503 with ``Retry-After``; anything unexpected is
logged and answered as a JSON 500 (a bug to fix: no input may cause one).
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from onsale import db
from onsale import redis as redis_conn
from onsale.errors import (
    InvalidRequest,
    NotFound,
    OnsaleError,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
)
from onsale.tokens import bearer

if TYPE_CHECKING:
    from onsale.runtime import Runtime

log = logging.getLogger("onsale.http")

HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "invalid_request"}
# Deeper JSON than any request of API.md needs; json.dumps and Postgres' JSONB
# recurse over it later.
MAX_JSON_DEPTH = 32


class JSON(JSONResponse):
    """JSON without the spaces, and with UTF-8 as it is."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        try:
            return text.encode()
        except UnicodeEncodeError:
            # A lone surrogate (say, echoed from a hostile body) has no UTF-8
            # form; JSON's \u escapes have one for everything.
            return json.dumps(content, separators=(",", ":")).encode()


def error_response(exc: OnsaleError) -> Response:
    headers = {}
    if isinstance(exc, (Unavailable, RateLimited)):
        headers["Retry-After"] = str(exc.retry_after)
    return JSON(exc.body(), status_code=exc.status, headers=headers)


def classify(exc: BaseException) -> OnsaleError | None:
    """The domain error an exception stands for, or None for a bug."""
    if isinstance(exc, OnsaleError):
        return exc
    if isinstance(exc, ClientDisconnect):  # nobody is left to read the answer
        return InvalidRequest("The client went away before sending its whole request")
    if isinstance(exc, redis_conn.UNAVAILABLE_ERRORS):
        return Unavailable("Redis is unavailable, retry shortly")
    if isinstance(exc, db.UNAVAILABLE_ERRORS):
        return Unavailable("The database is unavailable, retry shortly")
    return None


class ErrorMiddleware:
    """Turns every exception raised before a response started into JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            error = classify(exc)
            response: Response
            if error is None:
                log.exception("unhandled error", extra={"path": scope.get("path")})
                response = JSON(
                    {
                        "error": {
                            "code": "internal_error",
                            "message": "Internal error",
                            "details": {},
                        }
                    },
                    status_code=500,
                )
            else:
                if error.status >= 500:
                    log.warning("backend unavailable: %s", exc, extra={"path": scope.get("path")})
                response = error_response(error)
            await response(scope, receive, send)


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    return JSON(
        {"error": {"code": code, "message": str(exc.detail), "details": {}}},
        status_code=exc.status_code,
        headers=exc.headers,
    )


async def read_json(request: Request, max_bytes: int, *, empty: Any = ...) -> Any:
    """The request's JSON object. ``empty`` (if given) stands for no body.

    Raises PayloadTooLarge past ``max_bytes`` (read no further) and
    InvalidRequest when it is not JSON or not an object (every body of API.md
    is one: another shape is the "wrong shape" of its 400).
    """
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise PayloadTooLarge(limit_bytes=max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(limit_bytes=max_bytes)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip() and empty is not ...:
        return empty
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("The request body is not valid JSON") from exc
    except RecursionError as exc:
        raise InvalidRequest("The request body is nested too deeply") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object")
    _check_json(body)
    return body


def _storable(text: str) -> bool:
    """False for text Postgres (NUL) or UTF-8 (lone surrogates) cannot hold."""
    return "\x00" not in text and (text.isascii() or _utf8(text))


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_json(body: Any) -> None:
    """Refuse, before any handler sees them, bodies nested past MAX_JSON_DEPTH
    and strings no backend can store (a 500 further in, maybe after payment).

    Raises InvalidRequest.
    """
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            stack.extend((k, depth) for k in value)
            value = list(value.values())
        if isinstance(value, str) and not _storable(value):
            raise InvalidRequest("The request body holds NUL characters or lone surrogates")
        if isinstance(value, list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidRequest("The request body is nested too deeply")
            stack.extend((v, depth + 1) for v in value)


def token_of(request: Request) -> str | None:
    return bearer(request.headers.get("authorization"))


def path_param(request: Request, name: str) -> str:
    """A path parameter; NotFound for one no id can be: too long, or with
    unprintable characters (a NUL, which Postgres refuses to compare)."""
    value = str(request.path_params[name])
    if len(value) > 64 or not value.isprintable():
        raise NotFound()
    return value


def same_secret(given: str | None, expected: str) -> bool:
    return (
        bool(given)
        and bool(expected)
        and secrets.compare_digest((given or "").encode(), expected.encode())
    )


def runtime_of(request: HTTPConnection) -> Runtime:
    """The runtime of a request or a websocket."""
    runtime: Runtime = request.app.state.runtime
    return runtime
