"""JSON log lines: fields, request and event ids, and no secrets."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from onsale import tokens
from onsale.monitoring import logs

CARD = "4242424242424242"


def _line(record: logging.LogRecord) -> dict[str, object]:
    text = logs.JsonFormatter().format(record)
    assert "\n" not in text  # one object per line
    parsed: dict[str, object] = json.loads(text)
    return parsed


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("onsale.test", logging.WARNING, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_a_line_has_time_level_logger_message_and_the_extra_fields() -> None:
    line = _line(_record("hold %s refused", "h1", code="seats_unavailable", status=409))
    assert set(line) == {"time", "level", "logger", "message", "code", "status"}
    assert line["level"] == "WARNING" and line["logger"] == "onsale.test"
    assert line["message"] == "hold h1 refused"
    assert line["code"] == "seats_unavailable" and line["status"] == 409
    assert str(line["time"]).endswith("+00:00")


def test_request_and_event_ids_come_from_the_context() -> None:
    rid = logs.REQUEST_ID.set("req-1")
    eid = logs.EVENT_ID.set(None)
    try:
        logs.bind_event("ev_1")
        line = _line(_record("x"))
    finally:
        logs.EVENT_ID.reset(eid)
        logs.REQUEST_ID.reset(rid)
    assert line["request_id"] == "req-1" and line["event_id"] == "ev_1"
    assert "request_id" not in _line(_record("outside a request"))


def test_an_exception_is_one_field_of_the_same_line() -> None:
    try:
        raise ValueError(f"card {CARD} refused")
    except ValueError:
        record = logging.LogRecord(
            "onsale.test", logging.ERROR, __file__, 1, "boom", (), sys.exc_info()
        )
    line = _line(record)
    assert "ValueError: card [card] refused" in str(line["exception"])
    assert CARD not in json.dumps(line)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"paid with {CARD}", "paid with [card]"),
        ("paid with 4242 4242 4242 4242", "paid with [card]"),
        ("paid with 4000-0000-0000-0002", "paid with [card]"),
        ("at 1735689600000 ms", "at 1735689600000 ms"),  # not Luhn-valid: a timestamp stays
        ("buyer fan.name+tag@example.org paid", "buyer [email] paid"),
        (
            '"WebSocket /ws/events/ev_1/queue?token=abc.def&x=1"',
            '"WebSocket /ws/events/ev_1/queue?token=[redacted]&x=1"',
        ),
        ("Authorization: Bearer vk_abcdefghijklmnopqrstuvwxyz", "Authorization: Bearer [redacted]"),
        ("venue key vk_abcdefghijklmnopqrstuvwxyz0123", "venue key vk_[redacted]"),
        ("postgresql://postgres@127.0.0.1:5432/db", "postgresql://postgres@127.0.0.1:5432/db"),
    ],
)
def test_scrub(text: str, expected: str) -> None:
    assert logs.scrub(text) == expected


def test_a_signed_token_is_scrubbed() -> None:
    token = tokens.sign(b"k" * 32, tokens.Claims("queue", "ev_1", "q_entry", 2_000_000_000))
    assert logs.scrub(f"token {token} seen") == "token [token] seen"


def test_fields_named_like_secrets_are_dropped() -> None:
    line = _line(
        _record(
            "x",
            card_number=CARD,
            buyer_email="fan@example.org",
            access_token="t",
            authorization="Bearer x",
            order_id="ord_1",
            note=f"charged {CARD}",
        )
    )
    assert set(line) == {"time", "level", "logger", "message", "order_id", "note"}
    assert line["note"] == "charged [card]"


@pytest.fixture
def clean_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    servers = {n: logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    saved_servers = {n: (lg.handlers[:], lg.propagate) for n, lg in servers.items()}
    yield
    root.handlers, root.level = saved[0], saved[1]
    for n, (handlers, propagate) in saved_servers.items():
        servers[n].handlers, servers[n].propagate = handlers, propagate


def test_configure_replaces_plain_stream_handlers_once(clean_logging: None) -> None:
    root = logging.getLogger()
    plain = logging.StreamHandler(io.StringIO())
    kept = logging.NullHandler()
    root.handlers = [plain, kept]
    out = io.StringIO()
    logs.configure("INFO", out)
    logs.configure("INFO", out)
    assert kept in root.handlers and plain not in root.handlers
    assert sum(isinstance(h, logs.JsonHandler) for h in root.handlers) == 1
    logging.getLogger("uvicorn.error").warning("WebSocket /ws?token=abc [accepted]")
    line = json.loads(out.getvalue().strip())
    assert line["logger"] == "uvicorn.error"
    assert line["message"] == "WebSocket /ws?token=[redacted] [accepted]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("buyer fan@例え.テスト paid", "buyer [email] paid"),
        ("GET /o?q=alice%40example.org HTTP/1.1", "GET /o?q=[redacted] HTTP/1.1"),
        ("GET /o/alice%40ex%C3%A4mple.org HTTP/1.1", "GET /o/[email] HTTP/1.1"),
        (
            "DETAIL:  Key (email)=(fan@example.org) already exists.",
            "DETAIL:  Key (email)=([redacted]) already exists.",
        ),
        ("[parameters: ('ord_1', 'Camille')]", "[parameters: [redacted]]"),
    ],
)
def test_scrub_unicode_encoded_and_database_quotes(text: str, expected: str) -> None:
    assert logs.scrub(text) == expected
