"""Pure rules of event definitions: parsing and validating what a venue sends.

(Over 450 lines on purpose: the event model and the validation of every field
of API.md's event definition are one concept, read together when a field is
added; split by section they would import each other's private helpers.)

Nothing here touches Redis, SQL or the web: a request body goes in, a frozen
:class:`EventSpec` (or a ValidationFailed naming every bad field) comes out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from onsale.errors import ValidationFailed

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_]{0,15}$")
ROW_RE = re.compile(r"^[A-Z0-9]{1,4}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_SEATS_PER_ROW = 200
MAX_CAPACITY = 200_000
# Languages the pages speak (see onsale/web/i18n).
LANGUAGES = ("en", "fr")
# Seats of one seated section: each is a Redis field built in one script, and
# the seat map is sent whole, so the bound is lower than for GA places.
MAX_SEATS_PER_SECTION = 20_000
MIN_YEAR, MAX_YEAR = 1970, 9000


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    price_cents: int
    fee_cents: int
    currency: str


@dataclass(frozen=True)
class Row:
    row: str
    seats: int


@dataclass(frozen=True)
class Section:
    code: str
    kind: str  # "ga" | "seated"
    category: str
    capacity: int
    rows: tuple[Row, ...] = ()

    def seat_ids(self) -> list[str]:
        return [f"{self.code}-{r.row}-{n}" for r in self.rows for n in range(1, r.seats + 1)]


@dataclass(frozen=True)
class SaleWindow:
    prequeue_opens_at: datetime
    opens_at: datetime
    closes_at: datetime


@dataclass(frozen=True)
class Admission:
    rate_per_minute: int = 600
    max_active: int = 200
    session_seconds: int = 600
    # A fan unseen for longer is skipped at admission (and keeps no slot).
    absent_grace_seconds: int = 60
    # Leading zero bits of the proof-of-work a join must carry; 0: none.
    pow_difficulty: int = 0
    # An admitted shopper unseen for longer who holds nothing gives up their
    # slot and stops counting against the stock (their session stays valid).
    shopper_grace_seconds: int = 20


@dataclass(frozen=True)
class Limits:
    per_order: int = 6
    per_buyer: int = 6


DEFAULT_RETENTION_DAYS = 1095  # three years
MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True)
class EventSpec:
    name: str
    starts_at: datetime
    sale: SaleWindow
    admission: Admission
    hold_seconds: int
    limits: Limits
    categories: tuple[Category, ...]
    sections: tuple[Section, ...]
    # The language the fan's page opens in (the fan may switch).
    language: str = "en"
    # Days after the event when its buyers' e-mails and names are erased
    # (admin.retention); the orders stay for the accounts.
    retention_days: int = DEFAULT_RETENTION_DAYS

    @property
    def capacity(self) -> int:
        return sum(s.capacity for s in self.sections)

    def section(self, code: str) -> Section | None:
        return next((s for s in self.sections if s.code == code), None)

    def category(self, code: str) -> Category:
        return next(c for c in self.categories if c.code == code)

    @property
    def currency(self) -> str:
        return self.categories[0].currency


@dataclass(frozen=True)
class Event:
    """An event as stored: its spec plus identity."""

    id: str
    venue_id: str
    spec: EventSpec
    created_at: datetime | None = None
    # The platform suspended the venue: nothing of it is on sale.
    suspended: bool = False

    def status(self, now: datetime, *, sold_out: bool = False) -> str:
        """``scheduled|prequeue|on_sale|sold_out|closed`` at ``now``."""
        sale = self.spec.sale
        if now >= sale.closes_at or self.suspended:
            return "closed"
        if sold_out:
            return "sold_out"
        if now >= sale.opens_at:
            return "on_sale"
        if now >= sale.prequeue_opens_at:
            return "prequeue"
        return "scheduled"


@dataclass
class _Errors:
    fields: dict[str, str] = field(default_factory=dict)

    def add(self, path: str, message: str) -> None:
        self.fields.setdefault(path, message)

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationFailed("Some fields are invalid", fields=self.fields)


def parse_time(value: Any, path: str, errors: _Errors) -> datetime | None:
    if not isinstance(value, str):
        errors.add(path, "an ISO 8601 time with a zone is required")
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        errors.add(path, "not an ISO 8601 time")
        return None
    if parsed.tzinfo is None:
        errors.add(path, "the time needs a zone, e.g. 2026-12-31T20:00:00Z")
        return None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        # Year 1 or 9999 would overflow the date arithmetic done with it later.
        errors.add(path, f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
        return None
    return parsed


def _int(
    body: dict[str, Any],
    key: str,
    path: str,
    errors: _Errors,
    *,
    lo: int,
    hi: int,
    default: int | None = None,
) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "an integer is required")
        return lo
    if not lo <= value <= hi:
        errors.add(path, f"must be between {lo} and {hi}")
        return lo
    return value


def _str(body: dict[str, Any], key: str, path: str, errors: _Errors, *, max_len: int = 200) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        errors.add(path, "a non-empty string is required")
        return ""
    if len(value) > max_len:
        errors.add(path, f"at most {max_len} characters")
    return value.strip()


def _obj(body: dict[str, Any], key: str, path: str, errors: _Errors) -> dict[str, Any]:
    value = body.get(key, {})
    if not isinstance(value, dict):
        errors.add(path, "an object is required")
        return {}
    return value


def _list(body: dict[str, Any], key: str, path: str, errors: _Errors) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list) or not value:
        errors.add(path, "a non-empty list is required")
        return []
    return value


def _category(raw: Any, path: str, errors: _Errors) -> Category | None:
    if not isinstance(raw, dict):
        errors.add(path, "an object is required")
        return None
    code = _str(raw, "code", f"{path}.code", errors)
    if code and not CODE_RE.match(code):
        errors.add(f"{path}.code", "use A-Z, 0-9 and _, at most 16 characters")
    currency = _str(raw, "currency", f"{path}.currency", errors)
    if currency and not CURRENCY_RE.match(currency):
        errors.add(f"{path}.currency", "an ISO 4217 code such as EUR")
    return Category(
        code=code,
        name=_str(raw, "name", f"{path}.name", errors),
        price_cents=_int(raw, "price_cents", f"{path}.price_cents", errors, lo=0, hi=10_000_000),
        fee_cents=_int(
            raw, "fee_cents", f"{path}.fee_cents", errors, lo=0, hi=1_000_000, default=0
        ),
        currency=currency,
    )


def _rows(raw: Any, path: str, errors: _Errors) -> tuple[Row, ...]:
    if not isinstance(raw, list) or not raw:
        errors.add(path, "a seated section needs a non-empty list of rows")
        return ()
    rows: list[Row] = []
    for i, r in enumerate(raw):
        if not isinstance(r, dict):
            errors.add(f"{path}[{i}]", "an object is required")
            continue
        name = r.get("row")
        if not isinstance(name, str) or not ROW_RE.match(name):
            errors.add(f"{path}[{i}].row", "a row name of 1-4 characters A-Z, 0-9")
            continue
        seats = _int(r, "seats", f"{path}[{i}].seats", errors, lo=1, hi=MAX_SEATS_PER_ROW)
        rows.append(Row(name, seats))
    if len({r.row for r in rows}) != len(rows):
        errors.add(path, "row names must be unique within a section")
    return tuple(rows)


def _section(raw: Any, path: str, errors: _Errors, categories: set[str]) -> Section | None:
    if not isinstance(raw, dict):
        errors.add(path, "an object is required")
        return None
    code = _str(raw, "code", f"{path}.code", errors)
    if code and not CODE_RE.match(code):
        errors.add(f"{path}.code", "use A-Z, 0-9 and _, at most 16 characters")
    category = raw.get("category")
    if not isinstance(category, str) or category not in categories:
        errors.add(f"{path}.category", "must name one of the event's categories")
    kind = raw.get("kind")
    if kind == "ga":
        capacity = _int(raw, "capacity", f"{path}.capacity", errors, lo=1, hi=MAX_CAPACITY)
        return Section(code, "ga", str(category), capacity)
    if kind == "seated":
        rows = _rows(raw.get("rows"), f"{path}.rows", errors)
        seats = sum(r.seats for r in rows)
        if seats > MAX_SEATS_PER_SECTION:
            errors.add(f"{path}.rows", f"at most {MAX_SEATS_PER_SECTION} seats per section")
        return Section(code, "seated", str(category), seats, rows)
    errors.add(f"{path}.kind", "must be 'ga' or 'seated'")
    return None


def _sale(raw: dict[str, Any], errors: _Errors) -> SaleWindow | None:
    opens = parse_time(raw.get("opens_at"), "sale.opens_at", errors)
    closes = parse_time(raw.get("closes_at"), "sale.closes_at", errors)
    pre_raw = raw.get("prequeue_opens_at")
    prequeue = parse_time(pre_raw, "sale.prequeue_opens_at", errors) if pre_raw else None
    if opens is None or closes is None:
        return None
    if prequeue is None:
        prequeue = opens - timedelta(minutes=30)
    if prequeue > opens:
        errors.add("sale.prequeue_opens_at", "must not be after sale.opens_at")
    if closes <= opens:
        errors.add("sale.closes_at", "must be after sale.opens_at")
    return SaleWindow(prequeue, opens, closes)


def _admission(raw: dict[str, Any], errors: _Errors) -> Admission:
    return Admission(
        rate_per_minute=_int(
            raw,
            "rate_per_minute",
            "admission.rate_per_minute",
            errors,
            lo=1,
            hi=1_000_000,
            default=600,
        ),
        max_active=_int(
            raw, "max_active", "admission.max_active", errors, lo=1, hi=1_000_000, default=200
        ),
        session_seconds=_int(
            raw, "session_seconds", "admission.session_seconds", errors, lo=60, hi=7200, default=600
        ),
        absent_grace_seconds=_int(
            raw,
            "absent_grace_seconds",
            "admission.absent_grace_seconds",
            errors,
            lo=5,
            hi=3600,
            default=60,
        ),
        shopper_grace_seconds=_int(
            raw,
            "shopper_grace_seconds",
            "admission.shopper_grace_seconds",
            errors,
            lo=5,
            hi=600,
            default=20,
        ),
        pow_difficulty=_int(
            raw, "pow_difficulty", "admission.pow_difficulty", errors, lo=0, hi=24, default=0
        ),
    )


def _limits(raw: dict[str, Any], errors: _Errors) -> Limits:
    return Limits(
        per_order=_int(raw, "per_order", "limits.per_order", errors, lo=1, hi=100, default=6),
        per_buyer=_int(raw, "per_buyer", "limits.per_buyer", errors, lo=1, hi=1000, default=6),
    )


def parse_event(body: Any) -> EventSpec:
    """Validate a venue's event definition (API.md, ``POST /api/admin/events``).

    Raises ValidationFailed whose ``details.fields`` maps each bad field's path
    to what is wrong with it.
    """
    errors = _Errors()
    if not isinstance(body, dict):
        errors.add("", "an object is required")
        errors.raise_if_any()
        raise AssertionError("unreachable")
    name = _str(body, "name", "name", errors)
    starts_at = parse_time(body.get("starts_at"), "starts_at", errors)
    sale = _sale(_obj(body, "sale", "sale", errors), errors)
    admission = _admission(_obj(body, "admission", "admission", errors), errors)
    limits = _limits(_obj(body, "limits", "limits", errors), errors)
    hold_seconds = _int(body, "hold_seconds", "hold_seconds", errors, lo=30, hi=3600, default=480)
    retention_days = _int(
        body,
        "retention_days",
        "retention_days",
        errors,
        lo=0,
        hi=MAX_RETENTION_DAYS,
        default=DEFAULT_RETENTION_DAYS,
    )
    language = body.get("language", "en")
    if language not in LANGUAGES:
        errors.add("language", f"one of {', '.join(LANGUAGES)}")
    categories = [
        c
        for i, raw in enumerate(_list(body, "categories", "categories", errors))
        if (c := _category(raw, f"categories[{i}]", errors)) is not None
    ]
    codes = {c.code for c in categories}
    if len(codes) != len(categories):
        errors.add("categories", "category codes must be unique")
    if len({c.currency for c in categories}) > 1:
        errors.add("categories", "all categories of an event use one currency")
    sections = [
        s
        for i, raw in enumerate(_list(body, "sections", "sections", errors))
        if (s := _section(raw, f"sections[{i}]", errors, codes)) is not None
    ]
    if len({s.code for s in sections}) != len(sections):
        errors.add("sections", "section codes must be unique")
    if sum(s.capacity for s in sections) > MAX_CAPACITY:
        errors.add("sections", f"at most {MAX_CAPACITY} places per event")
    errors.raise_if_any()
    assert starts_at is not None and sale is not None
    return EventSpec(
        name,
        starts_at,
        sale,
        admission,
        hold_seconds,
        limits,
        tuple(categories),
        tuple(sections),
        str(language),
        retention_days,
    )


# Fields a venue may change once an event exists. Sections and categories are
# fixed once tickets may have been sold against them.
PATCHABLE = (
    "name",
    "starts_at",
    "sale",
    "admission",
    "hold_seconds",
    "limits",
    "language",
    "retention_days",
)


def apply_patch(spec: EventSpec, body: Any) -> EventSpec:
    """The spec with a PATCH body applied. Raises ValidationFailed."""
    if not isinstance(body, dict):
        raise ValidationFailed("an object is required", fields={"": "an object is required"})
    unknown = sorted(set(body) - set(PATCHABLE))
    if unknown:
        raise ValidationFailed(
            "These fields cannot be changed", fields={k: "cannot be changed" for k in unknown}
        )
    merged = spec_to_json(spec)
    for key, value in body.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return parse_event(merged)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def spec_to_json(spec: EventSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "starts_at": iso(spec.starts_at),
        "sale": {
            "prequeue_opens_at": iso(spec.sale.prequeue_opens_at),
            "opens_at": iso(spec.sale.opens_at),
            "closes_at": iso(spec.sale.closes_at),
        },
        "admission": {
            "rate_per_minute": spec.admission.rate_per_minute,
            "max_active": spec.admission.max_active,
            "session_seconds": spec.admission.session_seconds,
            "absent_grace_seconds": spec.admission.absent_grace_seconds,
            "shopper_grace_seconds": spec.admission.shopper_grace_seconds,
            "pow_difficulty": spec.admission.pow_difficulty,
        },
        "hold_seconds": spec.hold_seconds,
        "limits": {"per_order": spec.limits.per_order, "per_buyer": spec.limits.per_buyer},
        "language": spec.language,
        "retention_days": spec.retention_days,
        "categories": [
            {
                "code": c.code,
                "name": c.name,
                "price_cents": c.price_cents,
                "fee_cents": c.fee_cents,
                "currency": c.currency,
            }
            for c in spec.categories
        ],
        "sections": [_section_json(s) for s in spec.sections],
    }


def _section_json(s: Section) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": s.code,
        "kind": s.kind,
        "category": s.category,
        "capacity": s.capacity,
    }
    if s.kind == "seated":
        out["rows"] = [{"row": r.row, "seats": r.seats} for r in s.rows]
    return out


def parse_venue(body: Any) -> tuple[str, str, str]:
    """(name, slug, timezone) of a new venue. Raises ValidationFailed."""
    errors = _Errors()
    if not isinstance(body, dict):
        errors.add("", "an object is required")
        errors.raise_if_any()
        raise AssertionError("unreachable")
    name = _str(body, "name", "name", errors)
    slug = _str(body, "slug", "slug", errors, max_len=63)
    if slug and not SLUG_RE.match(slug):
        errors.add("slug", "lower-case letters, digits and '-', 2-63 characters")
    timezone = body.get("timezone", "UTC")
    if not isinstance(timezone, str) or not _valid_zone(timezone):
        errors.add("timezone", "an IANA time zone such as Europe/Paris")
    errors.raise_if_any()
    return name, slug, str(timezone)


def _valid_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory
        return False
    return True
