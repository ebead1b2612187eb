"""The HTTP edge's shared pieces: reading bodies, answering errors, tokens,
hot routes.

Domain errors become the JSON error body of API.md here and nowhere else
(:func:`failure_response`, called by the app's one middleware,
``onsale.monitoring.middleware.RequestMonitor``); a backend that is down
becomes 503 with ``Retry-After``; anything unexpected is logged and answered
as a JSON 500 (a bug to fix: no input may cause one).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

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


def render_json(content: Any) -> bytes:
    """JSON without the spaces, and with UTF-8 as it is."""
    text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (say, echoed from a hostile body) has no UTF-8
        # form; JSON's \u escapes have one for everything.
        return json.dumps(content, separators=(",", ":")).encode()


class JSON(JSONResponse):
    """JSON without the spaces, and with UTF-8 as it is."""

    def render(self, content: Any) -> bytes:
        return render_json(content)


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
    # Named by what raised it where that is certain: a bare OSError (a refused
    # connect) may come from either backend.
    if isinstance(exc, redis_conn.REDIS_ERRORS):
        return Unavailable("Redis is unavailable, retry shortly")
    if isinstance(exc, sa_exc.SQLAlchemyError) and db.unavailable(exc):
        return Unavailable("The database is unavailable, retry shortly")
    if isinstance(exc, OSError):  # ConnectionError and TimeoutError too
        return Unavailable("A backend is unavailable, retry shortly")
    return None


INTERNAL_ERROR = {"error": {"code": "internal_error", "message": "Internal error", "details": {}}}


def failure_response(exc: Exception, path: str | None) -> Response:
    """The answer to an exception raised before a response started: the error
    body of its domain error, a 503 for a backend that is down (logged in one
    line), else a JSON 500 (a bug: logged with its traceback)."""
    error = classify(exc)
    if error is None:
        log.exception("unhandled error", exc_info=exc, extra={"path": path})
        return JSON(INTERNAL_ERROR, status_code=500)
    if error.status >= 500:
        log.warning("backend unavailable: %s", exc, extra={"path": path})
    return error_response(error)


# A hot endpoint: the raw ASGI request in, (status, JSON body) out; it raises
# for every error answer, as a router endpoint does.
HotEndpoint = Callable[[Scope, Receive, dict[str, str]], Awaitable[tuple[int, bytes]]]


@dataclass(frozen=True)
class HotRoute:
    """A route :class:`HotRoutes` serves itself, before Starlette's router:
    the hot path of a sale (a hold), without a Request, a route match over
    every route, and two exception wrappers per request. ``route`` is the
    router's route of the same path, which serves the same answers when the
    middleware does not step in (another method, a root path); its template
    names the requests in the metrics either way."""

    route: Route
    method: str
    endpoint: HotEndpoint

    def match(self, scope: Scope) -> dict[str, str] | None:
        """The path parameters if ``scope`` is a request for this route."""
        if scope["method"] != self.method or scope.get("root_path"):
            return None
        found = self.route.path_regex.match(scope["path"])
        return found.groupdict() if found else None


JSON_TYPE = (b"content-type", b"application/json")


class HotRoutes:
    """The innermost middleware: serves the hot routes (a hold) itself and
    passes every other request on to Starlette's exception middleware and
    router. Innermost, so that every middleware of the app sees the holds too
    (tests/integration/test_hot_route.py checks it stays last in the app's
    list). It adds no ``send`` wrapper: a request it does not serve costs one
    loop over the hot routes."""

    def __init__(self, app: ASGIApp, hot: Sequence[HotRoute] = ()) -> None:
        self.app = app
        self.hot = tuple(hot)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for hot in self.hot:
                params = hot.match(scope)
                if params is not None:
                    await self._serve(hot, params, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _serve(
        hot: HotRoute, params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        # As the router would have it: the route (its template names the
        # request in the metrics) and the path parameters (the log's event id).
        scope["route"] = hot.route
        scope["path_params"] = params
        try:
            status, body = await hot.endpoint(scope, receive, params)
            headers = [(b"content-length", str(len(body)).encode()), JSON_TYPE]
        except Exception as exc:
            response = failure_response(exc, scope.get("path"))
            status, body, headers = response.status_code, bytes(response.body), response.raw_headers
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


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
    _check_length(request.headers.get("content-length"), max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(limit_bytes=max_bytes)
        chunks.append(chunk)
    return parse_json(b"".join(chunks), empty)


async def receive_json(
    receive: Receive, content_length: str | None, max_bytes: int, *, empty: Any = ...
) -> Any:
    """:func:`read_json` for a raw ASGI request (a hot route): the same
    answers, ClientDisconnect if the client leaves before the end."""
    _check_length(content_length, max_bytes)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(limit_bytes=max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return parse_json(chunks[0] if len(chunks) == 1 else b"".join(chunks), empty)


def _check_length(length: str | None, max_bytes: int) -> None:
    if length and length.isdigit() and int(length) > max_bytes:
        raise PayloadTooLarge(limit_bytes=max_bytes)


def parse_json(raw: bytes, empty: Any = ...) -> Any:
    """A request body as a JSON object; see :func:`read_json`."""
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
    return checked_id(str(request.path_params[name]))


def checked_id(value: str) -> str:
    """``value`` as a path parameter (see :func:`path_param`). Raises NotFound."""
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
