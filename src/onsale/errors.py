"""Errors with stable codes.

Domain code raises these; only the HTTP edge maps them to a status code and the
JSON error body of API.md. The ``code`` string is what clients, tests and metric
labels rely on, so it never changes once published::

    OnsaleError
    ├── InvalidRequest        400 invalid_request
    ├── Unauthorized          401 unauthorized
    │   └── TokenExpired      401 token_expired
    ├── Forbidden             403 forbidden
    ├── NotFound              404 not_found
    ├── Conflict              409 (abstract)
    │   ├── SeatsUnavailable  409 seats_unavailable
    │   ├── HoldExpired       409 hold_expired
    │   ├── SaleNotOpen       409 sale_not_open
    │   ├── SoldOut           409 sold_out
    │   ├── LimitExceeded     409 limit_exceeded
    │   ├── IdempotencyConflict 409 idempotency_conflict
    │   ├── CheckoutInProgress  409 checkout_in_progress
    │   ├── AlreadyExists     409 already_exists
    │   ├── PaymentsNotConfigured 409 payments_not_configured
    │   ├── PaymentMismatch   409 payment_mismatch
    │   └── LastKey           409 last_key
    ├── PaymentDeclined       402 payment_declined
    ├── PayloadTooLarge       413 payload_too_large
    ├── ValidationFailed      422 validation_error
    ├── RateLimited           429 rate_limited
    └── Unavailable           503 unavailable
"""

from __future__ import annotations

from typing import Any, ClassVar


class OnsaleError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Internal error"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details: dict[str, Any] = details
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidRequest(OnsaleError):
    status, code, default_message = 400, "invalid_request", "The request body is not valid JSON"


class Unauthorized(OnsaleError):
    status, code, default_message = 401, "unauthorized", "A valid token is required"


class TokenExpired(Unauthorized):
    code, default_message = "token_expired", "The token has expired"


class Forbidden(OnsaleError):
    status, code, default_message = 403, "forbidden", "This token does not grant access here"


class NotFound(OnsaleError):
    status, code, default_message = 404, "not_found", "Not found"


class Conflict(OnsaleError):
    status = 409


class SeatsUnavailable(Conflict):
    code, default_message = "seats_unavailable", "Some of the requested seats are not available"


class HoldExpired(Conflict):
    code, default_message = "hold_expired", "The hold has expired"


class SaleNotOpen(Conflict):
    code, default_message = "sale_not_open", "The sale is not open"


class SoldOut(Conflict):
    code, default_message = "sold_out", "The event is sold out"


class LimitExceeded(Conflict):
    code, default_message = "limit_exceeded", "Ticket limit exceeded"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"
    default_message = "This idempotency key was used with another request"


class CheckoutInProgress(Conflict):
    code, default_message = "checkout_in_progress", "A checkout of this hold is in progress"


class AlreadyExists(Conflict):
    code, default_message = "already_exists", "It already exists"


class PaymentsNotConfigured(Conflict):
    code = "payments_not_configured"
    default_message = "This venue has no payment account"


class PaymentMismatch(Conflict):
    code = "payment_mismatch"
    default_message = "This payment is for another amount, currency or hold"


class LastKey(Conflict):
    code, default_message = "last_key", "This is the venue's last working key"


class PaymentDeclined(OnsaleError):
    status, code, default_message = 402, "payment_declined", "The payment was declined"


class PayloadTooLarge(OnsaleError):
    status, code, default_message = 413, "payload_too_large", "The request body is too large"


class ValidationFailed(OnsaleError):
    status, code, default_message = 422, "validation_error", "Some fields are invalid"


class RateLimited(OnsaleError):
    status, code, default_message = 429, "rate_limited", "Too many requests"

    def __init__(self, message: str | None = None, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class Unavailable(OnsaleError):
    status, code, default_message = 503, "unavailable", "A backend is unavailable, retry shortly"

    def __init__(self, message: str | None = None, retry_after: int = 2, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


# Lua scripts answer with a short error word; this maps each word to its error.
SCRIPT_ERRORS: dict[str, type[OnsaleError]] = {
    "seats_unavailable": SeatsUnavailable,
    "hold_expired": HoldExpired,
    "limit_exceeded": LimitExceeded,
    "sold_out": SoldOut,
    "not_found": NotFound,
    "forbidden": Forbidden,
    "checkout_in_progress": CheckoutInProgress,
    "not_ready": Unavailable,
    "unauthorized": Unauthorized,
    "rate_limited": RateLimited,
}
