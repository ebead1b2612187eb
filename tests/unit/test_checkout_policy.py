"""Checkout rules: card numbers, e-mail normalisation, bodies, quotes, request hashes."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onsale.checkout.policy import (
    Buyer,
    Card,
    TicketLine,
    canonical_request,
    luhn_valid,
    normalize_email,
    parse_boxoffice,
    parse_checkout,
    quote,
    request_hash,
)
from onsale.errors import ValidationFailed
from tests.unit._specs import example_spec, two_tier_spec

# ----------------------------------------------------------------- luhn_valid()


def _luhn_sum_ok(digits: str) -> bool:
    """Reference Luhn: double every second digit from the right, sum the digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d // 10 + d % 10
    return total % 10 == 0


def _with_check_digit(body: str) -> str:
    return next(body + c for c in "0123456789" if _luhn_sum_ok(body + c))


@pytest.mark.parametrize(
    "number",
    [
        "4242424242424242",  # the test provider's accepted card
        "4000000000000002",  # the test provider's declined card: still Luhn-valid
        "4111111111111111",
        "5555555555554444",
        "378282246310005",  # 15-digit Amex
        "6011111111111117",
        "4012888888881881",
        _with_check_digit("12345678901"),  # 12 digits, the shortest accepted
        _with_check_digit("123456789012345678"),  # 19 digits, the longest accepted
    ],
)
def test_luhn_valid(number: str) -> None:
    assert luhn_valid(number) is True


@pytest.mark.parametrize(
    "number",
    [
        "4242424242424241",
        "4242424242424243",
        "4000000000000001",
        "1234567812345678",
        "79927398713",  # Luhn-valid but 11 digits
        _with_check_digit("1234567890"),  # 11 digits
        _with_check_digit("1234567890123456789"),  # 20 digits
        "",
        "0",
        "4242 4242 4242 4242",  # separators are the parser's business
        "4242-4242-4242-4242",
        "-4242424242424242",
        "4242424242424242\n",
        "424242424242424a",
        "４２４２４２４２４２４２４２４２",  # full-width digits
        "424242424242424²",  # isdigit() but not a decimal digit
        "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢",  # Arabic-Indic digits
    ],
)
def test_luhn_invalid(number: str) -> None:
    assert luhn_valid(number) is False


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet="0123456789", min_size=12, max_size=19))
def test_luhn_agrees_with_reference(number: str) -> None:
    assert luhn_valid(number) is _luhn_sum_ok(number)


@settings(max_examples=200, deadline=None, database=None)
@given(
    body=st.text(alphabet="0123456789", min_size=11, max_size=18),
    position=st.integers(min_value=0, max_value=18),
    delta=st.integers(min_value=1, max_value=9),
)
def test_luhn_catches_any_single_digit_change(body: str, position: int, delta: int) -> None:
    number = _with_check_digit(body)
    assert luhn_valid(number)
    i = position % len(number)
    changed = number[:i] + str((int(number[i]) + delta) % 10) + number[i + 1 :]
    assert luhn_valid(changed) is False


# ------------------------------------------------------------ normalize_email()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("fan@example.org", "fan@example.org"),
        ("Fan@Example.ORG", "fan@example.org"),
        ("  fan@example.org \n", "fan@example.org"),
        ("fan+tickets@example.org", "fan@example.org"),
        ("fan+a+b@example.org", "fan@example.org"),
        ("f.a.n@example.org", "f.a.n@example.org"),  # dots matter elsewhere
        ("F.A.N+x@Gmail.com", "fan@gmail.com"),
        ("f.an@gmail.com", "fan@gmail.com"),
        ("f.an+z@googlemail.com", "fan@gmail.com"),
        ("Fan@GoogleMail.com", "fan@gmail.com"),
        ("f.an@mail.gmail.com", "f.an@mail.gmail.com"),  # not the same provider
        ('"a@b"@example.org', '"a@b"@example.org'),  # the last @ splits
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


def test_buyer_email_norm() -> None:
    assert Buyer("C.amille+x@GMAIL.com", "Camille").email_norm == "camille@gmail.com"


# --------------------------------------------------- parse_checkout / boxoffice

GOOD: dict[str, Any] = {
    "buyer": {"email": "fan@example.org", "name": "Camille"},
    "payment": {"provider": "test", "card_number": "4242424242424242"},
}


def _body(**changes: Any) -> dict[str, Any]:
    """GOOD with ``buyer_email=...``-style overrides; the value ``...`` deletes the field."""
    body = copy.deepcopy(GOOD)
    for key, value in changes.items():
        part, field = key.split("_", 1)
        if value is ...:
            body[part].pop(field, None)
        else:
            body[part][field] = value
    return body


def _fields(body: Any, *, boxoffice: bool = False) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        (parse_boxoffice if boxoffice else parse_checkout)(body)
    assert info.value.status == 422
    assert set(info.value.details) == {"fields"}
    fields: dict[str, str] = info.value.details["fields"]
    return fields


def test_parse_checkout_valid() -> None:
    assert parse_checkout(GOOD) == (
        Buyer("fan@example.org", "Camille"),
        Card("test", "4242424242424242"),
    )


def test_parse_checkout_strips_and_accepts_separators() -> None:
    body = _body(
        buyer_email="  Fan@Example.org ",
        buyer_name="  Camille D. ",
        payment_card_number="4242 4242-4242 4242",
    )
    buyer, card = parse_checkout(body)
    assert buyer == Buyer("Fan@Example.org", "Camille D.")
    assert card == Card("test", "4242424242424242")
    assert card.last4 == "4242"


def test_parse_checkout_declined_card_is_still_valid_input() -> None:
    # 4000000000000002 is declined by the provider (402), not refused by validation (422).
    assert parse_checkout(_body(payment_card_number="4000000000000002"))[1].number == (
        "4000000000000002"
    )


ALL_FIELDS = {
    "buyer.email": "a valid e-mail address is required",
    "buyer.name": "a name of 1-200 characters is required",
    "payment.provider": "one of: stripe, test",
    "payment.card_number": "not a valid card number",
}


@pytest.mark.parametrize("body", [None, [], "x", 1, {}, {"buyer": [], "payment": "card"}])
def test_parse_checkout_wrong_shape_names_every_field(body: Any) -> None:
    assert _fields(body) == ALL_FIELDS


@pytest.mark.parametrize(
    "email",
    [
        ...,
        None,
        42,
        "",
        "fan",
        "fan@",
        "@example.org",
        "fan@example",
        "fan@example.o",
        "fan@@example.org",
        "f an@example.org",
        "fan@exa mple.org",
        "a" * 65 + "@example.org",
        "fan@" + "a" * 250 + ".org",
        ["fan@example.org"],
    ],
)
def test_parse_checkout_bad_email(email: Any) -> None:
    assert _fields(_body(buyer_email=email)) == {"buyer.email": ALL_FIELDS["buyer.email"]}


def test_parse_checkout_email_limits() -> None:
    assert parse_checkout(_body(buyer_email="a" * 64 + "@example.org"))[0].email.startswith("a")
    assert parse_checkout(_body(buyer_email="x@y.io"))[0].email == "x@y.io"


@pytest.mark.parametrize("name", [..., None, "", "   ", "x" * 201, 7, {"first": "C"}])
def test_parse_checkout_bad_name(name: Any) -> None:
    assert _fields(_body(buyer_name=name)) == {"buyer.name": ALL_FIELDS["buyer.name"]}


def test_parse_checkout_name_limit() -> None:
    assert parse_checkout(_body(buyer_name="x" * 200))[0].name == "x" * 200


@pytest.mark.parametrize("provider", [..., None, "", "paypal", "TEST", 1, ["test"], {"t": 1}])
def test_parse_checkout_bad_provider(provider: Any) -> None:
    assert _fields(_body(payment_provider=provider)) == {
        "payment.provider": ALL_FIELDS["payment.provider"]
    }


@pytest.mark.parametrize(
    "number",
    [..., None, "", 4242424242424242, "4242424242424241", "4242x4242424242424242", "4242.4242"],
)
def test_parse_checkout_bad_card(number: Any) -> None:
    assert _fields(_body(payment_card_number=number)) == {
        "payment.card_number": ALL_FIELDS["payment.card_number"]
    }


def test_cash_is_refused_online() -> None:
    body = _body(payment_provider="cash", payment_card_number=...)
    assert _fields(body) == {"payment.provider": "one of: stripe, test"}


def test_boxoffice_accepts_cash_without_card() -> None:
    body = _body(payment_provider="cash", payment_card_number=...)
    assert parse_boxoffice(body) == (Buyer("fan@example.org", "Camille"), Card("cash", ""))


def test_boxoffice_accepts_a_card() -> None:
    assert parse_boxoffice(GOOD)[1] == Card("test", "4242424242424242")


def test_boxoffice_errors() -> None:
    assert _fields(_body(payment_provider="stripe"), boxoffice=True) == {
        "payment.provider": "one of: cash, terminal, test"
    }
    assert _fields(_body(payment_card_number="1234"), boxoffice=True) == {
        "payment.card_number": "not a valid card number"
    }
    assert _fields(None, boxoffice=True) == {
        **ALL_FIELDS,
        "payment.provider": "one of: cash, terminal, test",
    }


# ----------------------------------------------------------------------- quote()


def test_quote_seats() -> None:
    q = quote(example_spec(), "BALC", ("BALC-A-1", "BALC-A-2"), 2)
    assert q.lines == (
        TicketLine("BALC", "BALC-A-1", 2500, 100),
        TicketLine("BALC", "BALC-A-2", 2500, 100),
    )
    assert q.total_cents == 5200  # API.md's example order
    assert q.fees_cents == 200
    assert q.currency == "EUR"


def test_quote_ga() -> None:
    q = quote(example_spec(), "FLOOR", (), 3)
    assert q.lines == (TicketLine("FLOOR", None, 2500, 100),) * 3
    assert q.total_cents == 7800
    assert q.fees_cents == 300


def test_quote_seats_define_the_lines() -> None:
    q = quote(example_spec(), "BALC", ("BALC-B-7",), 5)
    assert [line.seat for line in q.lines] == ["BALC-B-7"]
    assert q.total_cents == 2600


def test_quote_uses_the_sections_category() -> None:
    spec = two_tier_spec()
    vip = quote(spec, "LOGE", ("LOGE-1-1", "LOGE-1-2"), 2)
    assert vip.lines == (
        TicketLine("LOGE", "LOGE-1-1", 9000, 350),
        TicketLine("LOGE", "LOGE-1-2", 9000, 350),
    )
    assert vip.total_cents == 18700
    assert vip.fees_cents == 700
    assert quote(spec, "FLOOR", (), 1).total_cents == 2600


def test_quote_no_fee() -> None:
    body_spec = example_spec()
    free_fee = replace(body_spec.categories[0], fee_cents=0)
    spec = replace(body_spec, categories=(free_fee,))
    q = quote(spec, "FLOOR", (), 2)
    assert q.total_cents == 5000
    assert q.fees_cents == 0


def test_quote_unknown_section() -> None:
    with pytest.raises(ValueError, match="NOPE"):
        quote(example_spec(), "NOPE", (), 1)


# ---------------------------------------------------------------- request_hash()


KEY = b"k" * 32


def test_request_hash_ignores_key_order() -> None:
    a = {"buyer": {"email": "e", "name": "n"}, "payment": {"provider": "test", "card_number": "4"}}
    b = {"payment": {"card_number": "4", "provider": "test"}, "buyer": {"name": "n", "email": "e"}}
    assert request_hash(KEY, "hold:1", a) == request_hash(KEY, "hold:1", b)


def test_request_hash_is_canonical_hmac() -> None:
    expected = hmac.new(KEY, b'{"body":{"a":1,"b":[2,3]},"scope":"s"}', hashlib.sha256).hexdigest()
    assert request_hash(KEY, "s", {"b": [2, 3], "a": 1}) == expected
    assert len(expected) == 64
    assert request_hash(b"another key", "s", {"b": [2, 3], "a": 1}) != expected


def test_request_hash_scope_matters() -> None:
    assert request_hash(KEY, "hold:1", GOOD) != request_hash(KEY, "hold:2", GOOD)


def test_request_hash_body_matters() -> None:
    assert request_hash(KEY, "s", GOOD) != request_hash(KEY, "s", _body(buyer_name="Other"))
    assert request_hash(KEY, "s", [1, 2]) != request_hash(KEY, "s", [2, 1])
    assert request_hash(KEY, "s", {"a": 1}) != request_hash(KEY, "s", {"a": "1"})
    assert request_hash(KEY, "s", None) != request_hash(KEY, "s", {})


def test_request_hash_covers_the_card_by_keyed_fingerprint_only() -> None:
    body = {"buyer": {}, "payment": {"provider": "test", "card_number": "4242 4242 4242 4242"}}
    canonical = json.dumps(canonical_request(KEY, "s", body))
    assert "4242" not in canonical
    same = {"buyer": {}, "payment": {"provider": "test", "card_number": "4242424242424242"}}
    other = {"buyer": {}, "payment": {"provider": "test", "card_number": "5555555555554444"}}
    assert request_hash(KEY, "s", body) == request_hash(KEY, "s", same)
    assert request_hash(KEY, "s", body) != request_hash(KEY, "s", other)
    assert canonical_request(KEY, "s", body) != canonical_request(b"x" * 32, "s", body)
