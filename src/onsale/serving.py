"""How onsale is served: uvicorn's options in one place (``onsale serve`` and
``onsale demo`` both use :func:`uvicorn_options`), and an HTTP protocol that
bounds what a request head may cost.

uvicorn's defaults suit a trusted network, not a crowd: httptools reads a
request head of any size (32 MB was answered), nothing bounds how long a head
may take to arrive (a client sending a byte a second keeps its connection, and
a file descriptor, for ever: slowloris), and a websocket message may be 16 MiB
although a fan's page sends nothing of substance.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from onsale.drain import graceful_timeout
from onsale.settings import Settings

# A request head (request line and headers) larger than this is refused with
# 431: the biggest onsale reads is a bearer token and a few browser headers.
MAX_HEAD_BYTES = 64 * 1024
# A websocket message larger than this closes the socket (1009): fans only
# listen; the page never sends more than a close frame.
MAX_WS_MESSAGE_BYTES = 4 * 1024

_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 30\r\n"
    b"connection: close\r\n\r\n"
    b"Request header fields too big\n"
)


class _HeadTooLarge(Exception):
    """Raised from a parser callback: httptools then stops parsing and uvicorn
    answers through ``send_400_response`` (which says 431 instead)."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with two bounds on each request head:
    ``head_timeout`` seconds to arrive whole (from the connection's start, or
    from the first byte of a later request on a kept-alive connection: between
    requests uvicorn's keep-alive timeout applies) and ``max_head_bytes``.

    A head still incomplete at its deadline closes the connection (a client
    that sends nothing gets nothing: browsers open spare connections they may
    never use); a head too large gets 431 and the connection is closed. Once a
    head is complete, a slow body or a slow answer is not concerned.

    The size is counted twice: what the parser hands over (the URL and each
    header: exact, whatever the reads), and what arrived while the head was
    still incomplete (httptools buffers a header until its end: this bounds
    that buffer).
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        head_timeout: float = 10.0,
        max_head_bytes: int = MAX_HEAD_BYTES,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.head_timeout = head_timeout
        self.max_head_bytes = max_head_bytes
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_parsed = 0
        self._head_received = 0
        self._refused = False

    def _start_head(self) -> None:
        if self._head_deadline is None:
            self._head_parsed = self._head_received = 0
            self._head_deadline = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _stop_head(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _head_too_large(self) -> None:
        self._stop_head()
        if not self.transport.is_closing():
            self.transport.write(_431)
            self.transport.close()

    def _count_head(self, size: int) -> None:
        self._head_parsed += size
        if self._head_parsed > self.max_head_bytes:
            self._refused = True
            raise _HeadTooLarge

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_deadline is None or self.transport.is_closing():
            return
        # The head is still incomplete after this chunk: all of it was head
        # (or the end of the previous request, pipelined: counted too, which
        # errs on the safe side by at most one read).
        self._head_received += len(data)
        if self._head_received > self.max_head_bytes:
            self._head_too_large()

    def send_400_response(self, msg: str) -> None:
        if self._refused:  # the parser stopped on _HeadTooLarge
            self._head_too_large()
        else:
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_head()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_head()
        super().on_headers_complete()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's keyword arguments for serving onsale (``uvicorn.run`` and
    ``uvicorn.Config`` alike), app and address aside."""
    # A partial of a module-level class: it pickles, as ``--workers N`` needs.
    http = functools.partial(
        BoundedHttpToolsProtocol,
        head_timeout=settings.header_timeout_seconds,
        max_head_bytes=MAX_HEAD_BYTES,
    )
    return {
        "http": http,
        # The same bound should uvicorn ever be run with h11.
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "ws_max_size": MAX_WS_MESSAGE_BYTES,
        # Compression costs memory per socket and fans' messages are tiny.
        "ws_per_message_deflate": False,
        "proxy_headers": True,
        # Passed always, so that uvicorn's own FORWARDED_ALLOW_IPS (which
        # trusts loopback) never applies: an empty list trusts no proxy.
        "forwarded_allow_ips": list(settings.forwarded_allow_ips),
        "server_header": False,
        # Requests in flight when a drain ends (checkouts) get what is left
        # of the drain's bound, then are cancelled (onsale.drain).
        "timeout_graceful_shutdown": graceful_timeout(settings),
    }
