"""Structured logs: one JSON object per line, with the request id and the
event id of the request being served, and never a secret.

``time``, ``level``, ``logger``, ``message``, then ``request_id`` and
``event_id`` when known (context variables set by the request middleware and
by the services that learn the event), then the record's ``extra`` fields
(``code``, ``status``, ``route``...) and ``exception`` when there is one.

Secrets and buyer data are kept out twice: ``extra`` fields whose name says
token, card, e-mail, buyer, password, secret or authorization are dropped, and
every string is scrubbed of what looks like a signed token, a bearer header, a
query parameter holding a token, a key, an e-mail, a name or a search (``q=``:
uvicorn's access lines carry the admin's order search and the websocket's
queue token), a card number, an e-mail address in any script and URL-encoded,
and the values Postgres quotes from a refused row (a constraint's ``DETAIL``,
SQLAlchemy's parameter list; the engines are also made with
``hide_parameters``: see ``onsale.db.create_engine``).
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

# An encoded character, but not an encoded at sign: URL-encoded ("%C3%A4" is
# an "ä"), escaped by JSON ("\u00e4") or in a bytes repr ("\xc3\xa4").
_PCT = r"(?:%(?!(?:25)?40)[0-9A-Fa-f]{2}|\\u(?!0040)[0-9A-Fa-f]{4}|\\x(?!40)[0-9A-Fa-f]{2})"
# The at sign as it appears in a log line: plain, URL-encoded (once or twice:
# "%40", "%2540"), escaped, or full-width.
_AT = re.compile(r"@|%(?:25)?40|\\u0040|\\x40|\uff20|\ufe6b")
# A domain label in any script (IDNs: "exämple", "例え", "xn--exmple-cua"):
# letters, digits, hyphens, combining marks, URL-encoded bytes.
_LABEL = r"(?:[^\W_]|[-\u0300-\u036f\u200c\u200d]|" + _PCT + r"){1,63}"
_DOT = r"(?:\.|%2[Ee]|\u3002|\uff0e)"
# The top-level label starts with a letter (of any script) or a URL-encoded
# byte, so that "postgres@127.0.0.1" (a user at an address) stays readable.
_TLD = r"(?:[^\W\d_]|" + _PCT + r")(?:[^\W_]|[-\u0300-\u036f]|" + _PCT + r"){1,62}"
_DOMAIN = re.compile(_LABEL + r"(?:" + _DOT + _LABEL + r")*" + _DOT + _TLD)
# What ends a local part on its left: a space, or what ends a word in a URL,
# a JSON string or a sentence. "+" does not ("fan+tag", a form-encoded space),
# nor "%" or a backslash (encoded characters).
_LOCAL_STOP = frozenset("@\"'<>(),;:/?&=#[]`{}|")
# Query or form parameters whose value is a secret or a buyer's: a token, a
# key, a search (the admin's order search takes an e-mail or a name), an
# e-mail, a name.
_PARAM = re.compile(
    r"(?i)(?<![\w-])(\w*token|\w*key|secret|password|q|query|search|e-?mail|\w*name|buyer)"
    r"=[^&\s\"'#;]+"
)
# What Postgres quotes from the rows it refused, and SQLAlchemy's parameter
# list (should an engine be made without hide_parameters): the DETAIL of a
# constraint violation ("Key (email)=(fan@example.org) already exists",
# "Failing row contains (...)"), asyncpg's "invalid input for query
# argument $1: 'value'", Postgres' "invalid input syntax for type x: "value"".
_KEY = re.compile(
    r"\bKey \(([^)\n]*)\)=\("
    r"(?:[^\n]*\)(?= already exists| is not present| is still referenced| conflicts with)|[^\n]*)"
)
_DB_QUOTES = (
    (_KEY, r"Key (\1)=([redacted])"),
    (re.compile(r"(?i)\bFailing row contains \([^\n]*"), "Failing row contains ([redacted])"),
    (re.compile(r"(?m)^(DETAIL|CONTEXT):(?!  Key \()[^\n]*"), r"\1:  [redacted]"),
    (re.compile(r"\[parameters: [^\n]*"), "[parameters: [redacted]]"),
    (re.compile(r"(invalid input for query argument \$\d+:)[^\n]*"), r"\1 [redacted]"),
    (re.compile(r"(?i)(invalid input (?:syntax|value) for[^:\n]*:) [^\n]*"), r"\1 [redacted]"),
)
_SCRUBS = (
    (re.compile(r"(?i)\bbearer\s+\S+"), "Bearer [redacted]"),
    (_PARAM, r"\1=[redacted]"),
    # onsale's signed tokens: base64url payload "." base64url MAC
    (re.compile(r"\b[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b"), "[token]"),
    (re.compile(r"\bvk_[A-Za-z0-9_-]{16,}"), "vk_[redacted]"),  # venue API keys
    # A fan's queue entry (the subject of its tokens): who waited, not a bug's clue.
    (re.compile(r"\bq_[0-9a-f]{20}\b"), "q_[redacted]"),
)
# 13 to 19 digits, maybe grouped by spaces or dashes: a card number if Luhn-valid.
_DIGITS = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
_SECRET_FIELD = re.compile(
    r"(?i)token|card|e_?mail|password|secret|authori[sz]ation|api_key|buyer|query"
)
# Attributes every LogRecord has: not "extra" fields.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def scrub(text: str) -> str:
    """``text`` without anything that looks like a token, card number, e-mail
    address (in any script, URL-encoded or not) or a value Postgres quotes
    from a refused row."""
    if "nput" in text or "DETAIL" in text or "Key (" in text or "[parameters" in text:
        for pattern, replacement in _DB_QUOTES:
            text = pattern.sub(replacement, text)
    for pattern, replacement in _SCRUBS:
        text = pattern.sub(replacement, text)
    return _DIGITS.sub(_card, _mask_emails(text))


def _mask_emails(text: str) -> str:
    """``text`` with every e-mail address replaced by ``[email]``.

    Found from its at sign, the domain forwards and the local part backwards,
    never past the previous address: linear in the length of the line, where
    one regular expression tried at every position of a long line without
    spaces (a hostile URL in the access log) takes quadratic time.
    """
    out: list[str] = []
    done = 0  # text[:done] is in out already
    for at in _AT.finditer(text):
        if at.start() < done:
            continue
        domain = _DOMAIN.match(text, at.end())
        if domain is None:
            continue
        start = at.start()
        while start > done and not (text[start - 1] in _LOCAL_STOP or text[start - 1].isspace()):
            start -= 1
        if start < at.start():
            out += (text[done:start], "[email]")
            done = domain.end()
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


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
