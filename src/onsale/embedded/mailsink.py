"""A mail server for the demo: aiosmtpd in a thread on a free loopback port,
keeping the last messages it caught in memory, so that a newcomer sees the
tickets' e-mail (``/dev/mail``, web/devmail.py) without any mail set up.

aiosmtpd is a development dependency: :func:`start_sink` returns None when it
is not installed (the demo then says so and the outbox keeps its messages).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

KEEP = 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class MailSink:
    """The caught messages, newest last (at most KEEP)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self._messages: deque[EmailMessage] = deque(maxlen=KEEP)
        self._lock = threading.Lock()
        self._controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def keep(self, raw: bytes) -> None:
        msg = message_from_bytes(raw, policy=policy.default)
        if isinstance(msg, EmailMessage):
            with self._lock:
                self._messages.append(msg)

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return list(self._messages)

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.keep(bytes(envelope.content))
                return "250 OK"

        # aiosmtpd logs every connection at INFO: the demo's console is for people.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def start_sink() -> MailSink | None:
    """A running sink, or None without aiosmtpd."""
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        return None
    sink = MailSink()
    sink.start()
    return sink
