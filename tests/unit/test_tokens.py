"""Signed tokens: roundtrip, forgery, tampering, expiry, kind and event checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from onsale import tokens
from onsale.errors import Forbidden, TokenExpired, Unauthorized
from onsale.tokens import Claims, Kind, bearer, sign, verify

KEY = b"unit-test-key-0123456789abcdef!!"
OTHER_KEY = b"another-key-0123456789abcdef!!!!"
EXPIRES = 1_900_000_000


def _claims(kind: Kind = "access", event_id: str = "ev1", subject: str = "entry-1") -> Claims:
    return Claims(kind=kind, event_id=event_id, subject=subject, expires_at=EXPIRES)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("kind", ["queue", "access", "order"])
def test_sign_verify_roundtrip(kind: Kind) -> None:
    claims = _claims(kind)
    token = sign(KEY, claims)
    assert verify(KEY, token, kind=kind, event_id="ev1", now=EXPIRES - 1) == claims


def test_token_shape_is_two_unpadded_base64url_parts() -> None:
    token = sign(KEY, _claims())
    payload, mac = token.split(".")
    assert "=" not in token
    assert json.loads(_unb64(payload)) == {"k": "a", "e": "ev1", "s": "entry-1", "x": EXPIRES}
    assert len(_unb64(mac)) == 32  # HMAC-SHA256


def test_signing_is_deterministic_and_key_dependent() -> None:
    assert sign(KEY, _claims()) == sign(KEY, _claims())
    assert sign(KEY, _claims()) != sign(OTHER_KEY, _claims())


def test_event_id_none_accepts_any_event() -> None:
    token = sign(KEY, _claims(event_id="other-event"))
    claims = verify(KEY, token, kind="access", event_id=None, now=0)
    assert claims.event_id == "other-event"


def test_unicode_claims_roundtrip() -> None:
    claims = _claims(event_id="évènement-☃", subject="sujet/😀")
    token = sign(KEY, claims)
    assert token.isascii()
    assert verify(KEY, token, kind="access", event_id="évènement-☃", now=0) == claims


def _assert_unauthorized(token: str) -> None:
    with pytest.raises(Unauthorized) as info:
        verify(KEY, token, kind="access", event_id="ev1", now=0)
    assert type(info.value) is Unauthorized  # not TokenExpired, not a crash
    assert info.value.status == 401
    assert info.value.code == "unauthorized"


def test_forged_signature_other_key() -> None:
    _assert_unauthorized(sign(OTHER_KEY, _claims()))


def test_tampered_payload_keeps_old_mac() -> None:
    payload, mac = sign(KEY, _claims()).split(".")
    raw = json.loads(_unb64(payload))
    raw["s"] = "someone-else"
    forged = _b64(json.dumps(raw, separators=(",", ":")).encode())
    _assert_unauthorized(f"{forged}.{mac}")


def test_tampered_expiry_is_rejected() -> None:
    payload, mac = sign(KEY, _claims()).split(".")
    raw = json.loads(_unb64(payload))
    raw["x"] = EXPIRES + 10**6
    _assert_unauthorized(f"{_b64(json.dumps(raw, separators=(',', ':')).encode())}.{mac}")


def test_tampered_mac() -> None:
    token = sign(KEY, _claims())
    last = token[-1]
    _assert_unauthorized(token[:-1] + ("A" if last != "A" else "B"))
    _assert_unauthorized(token[:-1])
    _assert_unauthorized(token + "A")


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "..",
        "abc",
        "abc.",
        ".abc",
        "a.b.c",
        "not a token at all",
        "\x00.\x00",
        "é.x",  # non-ASCII payload
        "abc.é",  # non-ASCII mac
        "☃☃☃.☃☃☃",
        "eyJrIjoiYSJ9.!!!!",
        "x" * 10_000,
    ],
)
def test_garbage_is_unauthorized(token: str) -> None:
    _assert_unauthorized(token)


def test_non_ascii_suffix_on_a_valid_token_is_unauthorized() -> None:
    _assert_unauthorized(sign(KEY, _claims()) + "é")


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1, 2, 3]",
        b'{"k": "z", "e": "ev1", "s": "x", "x": 1}',  # unknown kind code
        b'{"k": "a", "e": "ev1", "s": "x"}',  # no expiry
        b'{"k": "a", "e": "ev1", "s": "x", "x": "soon"}',
        b'{"k": ["a"], "e": "ev1", "s": "x", "x": 1}',
        b"\xff\xfe",
    ],
)
def test_correctly_signed_but_malformed_payload_is_unauthorized(payload: bytes) -> None:
    body = _b64(payload)
    mac = _b64(hmac.new(KEY, body.encode(), hashlib.sha256).digest())
    _assert_unauthorized(f"{body}.{mac}")


def test_expired_exactly_at_expiry() -> None:
    token = sign(KEY, _claims())
    with pytest.raises(TokenExpired) as info:
        verify(KEY, token, kind="access", event_id="ev1", now=EXPIRES)
    assert info.value.status == 401
    assert info.value.code == "token_expired"
    with pytest.raises(TokenExpired):
        verify(KEY, token, kind="access", event_id="ev1", now=EXPIRES + 3600)


def test_valid_just_before_expiry() -> None:
    token = sign(KEY, _claims())
    assert verify(KEY, token, kind="access", event_id="ev1", now=EXPIRES - 0.001).expires_at == (
        EXPIRES
    )


@pytest.mark.parametrize(
    ("signed", "wanted"),
    [
        ("queue", "access"),
        ("queue", "order"),
        ("access", "queue"),
        ("access", "order"),
        ("order", "queue"),
        ("order", "access"),
    ],
)
def test_wrong_kind_is_forbidden(signed: Kind, wanted: Kind) -> None:
    token = sign(KEY, _claims(signed))
    with pytest.raises(Forbidden) as info:
        verify(KEY, token, kind=wanted, event_id="ev1", now=0)
    assert info.value.status == 403
    assert info.value.code == "forbidden"
    assert signed in info.value.message and wanted in info.value.message


def test_wrong_event_is_forbidden() -> None:
    token = sign(KEY, _claims(event_id="ev1"))
    with pytest.raises(Forbidden) as info:
        verify(KEY, token, kind="access", event_id="ev2", now=0)
    assert info.value.code == "forbidden"
    assert info.value.message == "This token is for another event"


def test_forgery_checked_before_kind_and_event() -> None:
    token = sign(OTHER_KEY, _claims("queue", event_id="ev9"))
    with pytest.raises(Unauthorized):
        verify(KEY, token, kind="access", event_id="ev1", now=0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("Bearer abc.def", "abc.def"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("Bearer   abc  ", "abc"),
        ("Bearer", None),
        ("Bearer ", None),
        ("Bearer    ", None),
        ("Basic dXNlcjpwYXNz", None),
        ("Token abc", None),
        ("Bearerabc", None),
        ("abc", None),
        (" Bearer abc", None),
    ],
)
def test_bearer(header: str | None, expected: str | None) -> None:
    assert bearer(header) == expected


# ------------------------------------------------- the cache of checked tokens


def test_a_remembered_token_is_still_checked_for_expiry_kind_and_event() -> None:
    token = sign(KEY, _claims())
    assert verify(KEY, token, kind="access", event_id="ev1", now=EXPIRES - 1).subject == "entry-1"
    # the same string again: from the cache, and every check still made
    with pytest.raises(TokenExpired):
        verify(KEY, token, kind="access", event_id="ev1", now=EXPIRES)
    with pytest.raises(Forbidden):
        verify(KEY, token, kind="order", event_id="ev1", now=EXPIRES - 1)
    with pytest.raises(Forbidden):
        verify(KEY, token, kind="access", event_id="ev2", now=EXPIRES - 1)
    # under another key it is another token: no answer from the cache
    with pytest.raises(Unauthorized):
        verify(OTHER_KEY, token, kind="access", event_id="ev1", now=EXPIRES - 1)


def test_a_forged_token_is_never_remembered() -> None:
    forged = sign(OTHER_KEY, _claims(subject="forged"))
    good = sign(KEY, _claims(subject="good"))
    verify(KEY, good, kind="access", event_id="ev1", now=EXPIRES - 1)
    size = tokens._verified.cache_info().currsize
    misses = tokens._verified.cache_info().misses
    for _ in range(2):
        with pytest.raises(Unauthorized):
            verify(KEY, forged, kind="access", event_id="ev1", now=EXPIRES - 1)
    info = tokens._verified.cache_info()
    # checked twice (two misses), kept never
    assert (info.currsize, info.misses) == (size, misses + 2)


def test_the_cache_is_bounded() -> None:
    info = tokens._verified.cache_info()
    assert info.maxsize is not None and info.maxsize <= 100_000
    for i in range(info.maxsize + 10):
        tokens._verified(KEY, sign(KEY, _claims(subject=f"e{i}")))
    assert tokens._verified.cache_info().currsize == info.maxsize
