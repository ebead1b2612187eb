"""Structured logs: one JSON object per line, with the request id and the
event id of the request being served, and never a secret.

``time``, ``level``, ``logger``, ``message``, then ``request_id`` and
``event_id`` when known (context variables set by the request middleware and
by the services that learn the event), then the record's ``extra`` fields
(``code``, ``status``, ``route``...) and ``exception`` when there is one.

Secrets are kept out twice: ``extra`` fields whose name says token, card,
e-mail, password, secret or authorization are dropped, and every string is
scrubbed of what looks like a signed token, a bearer header, a ``token=``
query parameter, a card number or an e-mail address (uvicorn's own lines
carry the websocket URL, and its query string holds the queue token).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

REQUEST_ID: ContextVar[str | None] = ContextVar("onsale_request_id", default=None)
EVENT_ID: ContextVar[str | None] = ContextVar("onsale_event_id", default=None)

_SCRUBS = (
    (re.compile(r"(?i)\bbearer\s+\S+"), "Bearer [redacted]"),
    (re.compile(r"(?i)\b(token|key|secret|password)=[^&\s\"']+"), r"\1=[redacted]"),
    # onsale's signed tokens: base64url payload "." base64url MAC
    (re.compile(r"\b[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b"), "[token]"),
    (re.compile(r"\bvk_[A-Za-z0-9_-]{16,}"), "vk_[redacted]"),  # venue API keys
    (re.compile(r"[^\s@\"'<>(),;:]+@[^\s@\"'<>(),;:]+\.[A-Za-z]{2,}"), "[email]"),
)
# 13 to 19 digits, maybe grouped by spaces or dashes: a card number if Luhn-valid.
_DIGITS = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
_SECRET_FIELD = re.compile(r"(?i)token|card|e_?mail|password|secret|authori[sz]ation|api_key")
# Attributes every LogRecord has: not "extra" fields.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def scrub(text: str) -> str:
    """``text`` without anything that looks like a token, card number or e-mail."""
    for pattern, replacement in _SCRUBS:
        text = pattern.sub(replacement, text)
    return _DIGITS.sub(_card, text)


def _card(match: re.Match[str]) -> str:
    digits = [int(c) for c in match.group() if c.isdigit()]
    total = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return "[card]" if total % 10 == 0 else match.group()


def bind_event(event_id: str) -> None:
    """Name the event the current request is about, for every later log line."""
    EVENT_ID.set(event_id)


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        request_id, event_id = REQUEST_ID.get(), EVENT_ID.get()
        if request_id:
            out["request_id"] = request_id
        if event_id:
            out["event_id"] = event_id
        for name, value in record.__dict__.items():
            if (
                name not in _STANDARD
                and not name.startswith("_")
                and not _SECRET_FIELD.search(name)
            ):
                out[name] = _plain(value)
        if record.exc_info:
            out["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


class JsonHandler(logging.StreamHandler[TextIO]):
    """The handler :func:`configure` installs (a type of its own, so that a
    second call replaces it rather than adding another)."""


def configure(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every log line (uvicorn's too) to ``stream`` (stderr) as JSON.

    Replaces the plain stream handlers on the root logger (``basicConfig``'s,
    an earlier call's); leaves other handlers (files, test capture) alone.
    """
    handler = JsonHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [
        h for h in root.handlers if type(h) not in (logging.StreamHandler, JsonHandler)
    ] + [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        server_log = logging.getLogger(name)
        server_log.handlers = []
        server_log.propagate = True
