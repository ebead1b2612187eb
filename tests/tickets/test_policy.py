"""The pure parts of tickets/: SMTP URLs, retry delays, scan requests, the
e-mail's dates and money, codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from onsale.errors import ValidationFailed
from onsale.settings import SettingsError, from_env
from onsale.tickets import codes, words
from onsale.tickets.door import parse_scan
from onsale.tickets.smtp import SmtpConfig
from onsale.tickets.worker import retry_delay

NOW = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)


def test_smtp_urls() -> None:
    plain = SmtpConfig.parse("smtp://127.0.0.1:2525")
    assert (plain.host, plain.port, plain.username, plain.starttls, plain.tls) == (
        "127.0.0.1",
        2525,
        None,
        False,
        False,
    )
    full = SmtpConfig.parse("smtp://me%40x.org:p%3Ass@mail.example:587?starttls=1")
    assert (full.username, full.password, full.starttls) == ("me@x.org", "p:ss", True)
    assert SmtpConfig.parse("smtps://mail.example").port == 465
    with pytest.raises(ValueError):
        SmtpConfig.parse("http://mail.example")


def test_smtp_settings_never_echo_the_value() -> None:
    with pytest.raises(SettingsError) as caught:
        from_env({"ONSALE_SMTP_URL": "imap://me:secretpw@x"})
    assert "secretpw" not in str(caught.value)
    s = from_env({"ONSALE_SMTP_URL": "smtp://me:secretpw@x:25", "ONSALE_MAIL_FROM": "t@v.org"})
    assert "secretpw" not in repr(s) and s.mail_from == "t@v.org"


def test_retry_delay_doubles_up_to_its_cap() -> None:
    assert [retry_delay(n, 10, 60).total_seconds() for n in (1, 2, 3, 4, 5)] == [
        10,
        20,
        40,
        60,
        60,
    ]


def test_scan_requests() -> None:
    ok = parse_scan({"code": " a.b.c ", "scan_id": "scan-0001"}, NOW)
    assert (ok.code, ok.gate, ok.offline, ok.scanned_at) == ("a.b.c", "main", False, NOW)
    # An offline scan keeps its own time, within two days and not in the future.
    old = parse_scan(
        {
            "code": "x",
            "scan_id": "scan-0001",
            "offline": True,
            "scanned_at": "2026-12-07T19:00:00Z",
        },
        NOW,
    )
    assert old.scanned_at == NOW - timedelta(hours=1)
    future = parse_scan(
        {
            "code": "x",
            "scan_id": "scan-0001",
            "offline": True,
            "scanned_at": "2030-01-01T00:00:00Z",
        },
        NOW,
    )
    assert future.scanned_at == NOW
    # Online, a client's time is not taken.
    assert (
        parse_scan(
            {"code": "x", "scan_id": "scan-0001", "scanned_at": "2020-01-01"}, NOW
        ).scanned_at
        == NOW
    )
    for bad, field in (
        ([], "body"),
        ({"code": "", "scan_id": "scan-0001"}, "code"),
        ({"code": "x" * 513, "scan_id": "scan-0001"}, "code"),
        ({"code": "x", "scan_id": "short"}, "scan_id"),
        ({"code": "x", "scan_id": "scan-0001", "gate": "<script>"}, "gate"),
        ({"code": "x", "scan_id": "scan-0001", "offline": "yes"}, "offline"),
        (
            {"code": "x", "scan_id": "scan-0001", "offline": True, "scanned_at": "soon"},
            "scanned_at",
        ),
        (
            {"code": "x", "scan_id": "scan-0001", "offline": True, "local_result": "ok"},
            "local_result",
        ),
    ):
        with pytest.raises(ValidationFailed) as caught:
            parse_scan(bad, NOW)
        assert field in caught.value.body()["error"]["details"].get("fields", {}), bad


def test_dates_and_money_as_the_venue_writes_them() -> None:
    assert words.when(NOW, "Europe/Paris", "fr") == "07/12/2026 21:00 (Europe/Paris)"
    assert words.when(NOW, "America/New_York", "en") == "2026-12-07 15:00 (America/New_York)"
    assert words.money(2505, "EUR", "fr") == "25,05 EUR"
    assert words.money(100, "USD", "en") == "1.00 USD"


def test_codes_sign_and_refuse() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    code = codes.make_code(key, "ev_1", "tkt_1")
    assert codes.verify([public], code) == codes.parse(code)
    assert codes.verify([public], code.replace("tkt_1", "tkt_2")) is None
    assert codes.verify([], code) is None
    assert codes.parse("ev_1.tkt_1.short") is None
    assert codes.parse("é.tkt_1." + "A" * 86) is None
