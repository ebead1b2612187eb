"""Every error's status and code match API.md's table; the body has its shape."""

from __future__ import annotations

import json

import pytest

from onsale import errors
from onsale.errors import (
    SCRIPT_ERRORS,
    Conflict,
    Forbidden,
    HoldExpired,
    IdempotencyConflict,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    OnsaleError,
    PayloadTooLarge,
    PaymentDeclined,
    RateLimited,
    SaleNotOpen,
    SeatsUnavailable,
    SoldOut,
    TokenExpired,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)

API_TABLE: list[tuple[type[OnsaleError], int, str]] = [
    (InvalidRequest, 400, "invalid_request"),
    (Unauthorized, 401, "unauthorized"),
    (TokenExpired, 401, "token_expired"),
    (Forbidden, 403, "forbidden"),
    (NotFound, 404, "not_found"),
    (SeatsUnavailable, 409, "seats_unavailable"),
    (HoldExpired, 409, "hold_expired"),
    (SaleNotOpen, 409, "sale_not_open"),
    (SoldOut, 409, "sold_out"),
    (LimitExceeded, 409, "limit_exceeded"),
    (IdempotencyConflict, 409, "idempotency_conflict"),
    (PaymentDeclined, 402, "payment_declined"),
    (PayloadTooLarge, 413, "payload_too_large"),
    (ValidationFailed, 422, "validation_error"),
    (RateLimited, 429, "rate_limited"),
    (Unavailable, 503, "unavailable"),
]


@pytest.mark.parametrize(("cls", "status", "code"), API_TABLE)
def test_status_and_code(cls: type[OnsaleError], status: int, code: str) -> None:
    assert cls.status == status
    assert cls.code == code
    err = cls()
    assert err.status == status
    assert err.code == code
    assert err.message == cls.default_message
    assert err.message  # never empty
    assert err.body() == {"error": {"code": code, "message": cls.default_message, "details": {}}}


def _all_error_classes() -> list[type[OnsaleError]]:
    found: list[type[OnsaleError]] = []
    stack: list[type[OnsaleError]] = [OnsaleError]
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return [c for c in found if c.__module__ == errors.__name__]


def test_every_concrete_error_is_a_4xx_or_503_with_a_unique_code() -> None:
    concrete = [c for c in _all_error_classes() if c not in (OnsaleError, Conflict)]
    codes = [c.code for c in concrete]
    assert len(codes) == len(set(codes)), codes
    for cls in concrete:
        assert 400 <= cls.status < 500 or cls.status == 503, cls
        assert cls.code != "internal_error", cls


def test_every_conflict_is_409() -> None:
    for cls in _all_error_classes():
        if issubclass(cls, Conflict):
            assert cls.status == 409, cls


def test_token_expired_is_an_unauthorized() -> None:
    assert issubclass(TokenExpired, Unauthorized)
    assert TokenExpired().status == 401


def test_body_with_message_and_details() -> None:
    err = SeatsUnavailable("Seat BALC-A-1 is taken", unavailable=["BALC-A-1"])
    assert err.body() == {
        "error": {
            "code": "seats_unavailable",
            "message": "Seat BALC-A-1 is taken",
            "details": {"unavailable": ["BALC-A-1"]},
        }
    }
    assert str(err) == "Seat BALC-A-1 is taken"
    json.dumps(err.body())  # serialisable as the HTTP body


def test_validation_details_name_fields() -> None:
    err = ValidationFailed(fields={"buyer.email": "required"})
    assert err.body()["error"]["details"] == {"fields": {"buyer.email": "required"}}
    assert err.body()["error"]["message"] == "Some fields are invalid"


def test_empty_message_falls_back_to_default() -> None:
    assert NotFound("").message == "Not found"


def test_retry_after() -> None:
    assert RateLimited().retry_after == 1
    assert RateLimited(retry_after=7).retry_after == 7
    assert Unavailable().retry_after == 2
    unavailable = Unavailable("redis down", retry_after=5, backend="redis")
    assert unavailable.retry_after == 5
    # retry_after is a header, not part of the details.
    assert unavailable.body() == {
        "error": {"code": "unavailable", "message": "redis down", "details": {"backend": "redis"}}
    }


def test_script_errors_map_to_matching_codes() -> None:
    for word, cls in SCRIPT_ERRORS.items():
        assert issubclass(cls, OnsaleError)
        if word == "not_ready":
            assert cls is Unavailable  # inventory being rebuilt: retry shortly
        else:
            assert cls.code == word
    assert SCRIPT_ERRORS["seats_unavailable"] is SeatsUnavailable
    assert SCRIPT_ERRORS["hold_expired"] is HoldExpired
