"""Pure rules of checkout: card numbers, buyers, prices and fees, request
hashes, order token lifetimes."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from onsale.errors import ValidationFailed
from onsale.events.policy import EventSpec

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
# Providers whose addresses ignore dots in the local part.
DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def luhn_valid(number: str) -> bool:
    """True for a 12-19 digit number whose Luhn checksum is right."""
    # isdigit() alone also accepts non-ASCII digits such as '²', which int() refuses.
    if not number.isascii() or not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def normalize_email(email: str) -> str:
    """One spelling per mailbox, for the per-buyer limit: case, +tags and, where
    the provider ignores them, dots do not make a new buyer."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain == "googlemail.com":
        domain = "gmail.com"
    if domain in DOTLESS_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}"


@dataclass(frozen=True)
class Buyer:
    email: str
    name: str

    @property
    def email_norm(self) -> str:
        return normalize_email(self.email)


@dataclass(frozen=True)
class Card:
    """How a checkout pays: a card number (``test``), a PaymentIntent id
    (``stripe``: ``ref``), a terminal's reference, or cash."""

    provider: str
    number: str
    ref: str = ""

    @property
    def last4(self) -> str:
        return self.number[-4:]


PROVIDERS = frozenset({"test", "stripe"})
# At the counter a venue may also take cash, or a card on its own terminal
# (recorded with the terminal's reference), whatever ONSALE_TEST_PAYMENTS says.
COUNTER_PAYMENTS = frozenset({"cash", "terminal"})
BOXOFFICE_PROVIDERS = frozenset({"test"}) | COUNTER_PAYMENTS
# What a provider's reference may look like (a PaymentIntent id; a terminal's
# receipt number): printable, short, no spaces.
PAYMENT_ID_RE = re.compile(r"^pi_[A-Za-z0-9_]{1,250}$")
REFERENCE_RE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")


def parse_buyer(body: Any) -> Buyer:
    """The buyer of a payment body (``{"buyer": {...}}``). Raises ValidationFailed."""
    errors, buyer, _ = _field_errors(
        {"buyer": body.get("buyer") if isinstance(body, dict) else None, "payment": {}},
        frozenset({"cash"}),
    )
    errors = {k: v for k, v in errors.items() if k.startswith("buyer.")}
    if errors:
        raise ValidationFailed("Some fields are invalid", fields=errors)
    return buyer


def _payment_fields(provider: Any, payment_raw: dict[str, Any]) -> tuple[dict[str, str], Card]:
    """The provider-specific fields of ``payment``."""
    if provider == "stripe":
        ref = payment_raw.get("payment_id")
        if not isinstance(ref, str) or not PAYMENT_ID_RE.match(ref):
            return {"payment.payment_id": "a Stripe PaymentIntent id (pi_...)"}, Card("stripe", "")
        return {}, Card("stripe", "", ref)
    if provider == "terminal":
        ref = payment_raw.get("reference")
        if not isinstance(ref, str) or not REFERENCE_RE.match(ref):
            return {"payment.reference": "the terminal's reference, 1-64 characters"}, Card(
                "terminal", ""
            )
        return {}, Card("terminal", "", ref)
    if provider == "cash":
        return {}, Card("cash", "")
    number = payment_raw.get("card_number")
    digits = re.sub(r"[\s-]", "", number) if isinstance(number, str) else ""
    if not luhn_valid(digits):
        return {"payment.card_number": "not a valid card number"}, Card(str(provider), digits)
    return {}, Card(str(provider), digits)


def _field_errors(
    body: Any, providers: frozenset[str] = PROVIDERS
) -> tuple[dict[str, str], Buyer, Card]:
    errors: dict[str, str] = {}
    buyer_raw = body.get("buyer") if isinstance(body, dict) else None
    payment_raw = body.get("payment") if isinstance(body, dict) else None
    buyer_raw = buyer_raw if isinstance(buyer_raw, dict) else {}
    payment_raw = payment_raw if isinstance(payment_raw, dict) else {}
    email = buyer_raw.get("email")
    name = buyer_raw.get("name")
    if not isinstance(email, str) or len(email) > 254 or not EMAIL_RE.match(email.strip()):
        errors["buyer.email"] = "a valid e-mail address is required"
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors["buyer.name"] = "a name of 1-200 characters is required"
    provider = payment_raw.get("provider")
    if not isinstance(provider, str) or provider not in providers:
        errors["payment.provider"] = f"one of: {', '.join(sorted(providers)) or '(none here)'}"
    # A provider not accepted here is reported as such; its card number is
    # still checked (a "card" payment by default), as it always was.
    known = isinstance(provider, str) and (provider in providers or provider == "cash")
    kind = provider if known else "card"
    payment_errors, card = _payment_fields(kind, payment_raw)
    card = Card(str(provider), card.number, card.ref)
    errors.update(payment_errors)
    buyer = Buyer(
        str(email).strip() if isinstance(email, str) else "",
        str(name).strip() if isinstance(name, str) else "",
    )
    return errors, buyer, card


def parse_checkout(body: Any, accepted: Collection[str] = PROVIDERS) -> tuple[Buyer, Card]:
    """Buyer and card of a checkout (or box office) body; a provider must be
    one of ``accepted`` (those the runtime has). Raises ValidationFailed."""
    errors, buyer, card = _field_errors(body, PROVIDERS & frozenset(accepted))
    if errors:
        raise ValidationFailed("Some fields are invalid", fields=errors)
    return buyer, card


def parse_boxoffice(body: Any, accepted: Collection[str] = PROVIDERS) -> tuple[Buyer, Card]:
    """Like :func:`parse_checkout`, for the counter: cash and the venue's own
    card terminal are always accepted, the ``test`` provider where the runtime
    has it, Stripe never (no fan confirms a PaymentIntent at the counter).
    Raises ValidationFailed."""
    errors, buyer, card = _field_errors(
        body, BOXOFFICE_PROVIDERS & (frozenset(accepted) | COUNTER_PAYMENTS)
    )
    if errors:
        raise ValidationFailed("Some fields are invalid", fields=errors)
    return buyer, card


@dataclass(frozen=True)
class TicketLine:
    section: str
    seat: str | None
    price_cents: int
    fee_cents: int


@dataclass(frozen=True)
class Quote:
    lines: tuple[TicketLine, ...]
    currency: str

    @property
    def total_cents(self) -> int:
        return sum(line.price_cents + line.fee_cents for line in self.lines)

    @property
    def fees_cents(self) -> int:
        return sum(line.fee_cents for line in self.lines)


def quote(spec: EventSpec, section: str, seats: tuple[str, ...], quantity: int) -> Quote:
    """The price lines of what a hold holds: the ticket price and the venue's
    fee stay separate on every ticket; the total is their sum."""
    sec = spec.section(section)
    if sec is None:
        raise ValueError(f"unknown section {section!r}")
    cat = spec.category(sec.category)
    places: list[str | None] = list(seats) if seats else [None] * quantity
    lines = tuple(TicketLine(section, seat, cat.price_cents, cat.fee_cents) for seat in places)
    return Quote(lines, cat.currency)


# The purpose of the request hashes' key, derived from the server's secret
# (tokens.Signer.derive): a token signature can never be replayed as a hash,
# or back.
IDEMPOTENCY_PURPOSE = b"onsale/idempotency-request/v1"


def _card_fingerprint(key: bytes, number: Any) -> Any:
    if not isinstance(number, str):
        return number
    digits = re.sub(r"[\s-]", "", number)
    return "fp:" + hmac.new(key, b"card:" + digits.encode(), hashlib.sha256).hexdigest()


def canonical_request(key: bytes, scope: str, body: Any) -> Any:
    """What the request hash covers: the body as sent, but the card number
    replaced by its keyed fingerprint (digits only, so "4242 4242 ..." is the
    same card). The same key with another card is then another request (409
    ``idempotency_conflict``), and nothing stored lets anyone try card numbers
    offline without the server's key."""
    if isinstance(body, dict) and isinstance(body.get("payment"), dict):
        payment = dict(body["payment"])
        if "card_number" in payment:
            payment["card_number"] = _card_fingerprint(key, payment["card_number"])
        body = {**body, "payment": payment}
    return {"scope": scope, "body": body}


def request_hash(key: bytes, scope: str, body: Any) -> str:
    """A stable keyed hash of a request (same JSON, same hash, whatever the key
    order): HMAC-SHA-256 under ``key`` (:func:`idempotency_key`) of
    :func:`canonical_request`."""
    canonical = json.dumps(
        canonical_request(key, scope, body), sort_keys=True, separators=(",", ":")
    )
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


# The order page is the fan's ticket at the door: its token must outlive the
# show (late doors, a show moved by a few days, a refund claimed afterwards),
# but not by years: a leaked token stops working a month after the event.
ORDER_TOKEN_AFTER_START = timedelta(days=30)
ORDER_TOKEN_AT_LEAST = timedelta(days=1)


def order_token_expiry(starts_at: datetime, now: datetime) -> datetime:
    """When an order token issued ``now`` expires: 30 days after the event
    starts, and never less than a day from now."""
    return max(starts_at + ORDER_TOKEN_AFTER_START, now + ORDER_TOKEN_AT_LEAST)
