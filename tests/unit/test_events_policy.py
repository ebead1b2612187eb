"""Event definitions: parse_event, apply_patch, parse_venue, Event.status()."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from onsale.errors import ValidationFailed
from onsale.events.policy import (
    Admission,
    Category,
    Event,
    Limits,
    Row,
    SaleWindow,
    Section,
    apply_patch,
    iso,
    parse_event,
    parse_venue,
    spec_to_json,
)
from tests.unit._specs import example_body, example_spec


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _errors(body: Any, parse: Callable[[Any], object] = parse_event) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        parse(body)
    assert info.value.status == 422
    assert info.value.code == "validation_error"
    assert set(info.value.details) == {"fields"}
    fields: dict[str, str] = info.value.details["fields"]
    return fields


def _mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, str]:
    body = example_body()
    change(body)
    return _errors(body)


# --------------------------------------------------------------- parse_event()


def test_api_example_is_valid() -> None:
    spec = example_spec()
    assert spec.capacity == 540
    assert spec.name == "Night show"
    assert spec.starts_at == datetime(2026, 12, 31, 20, tzinfo=UTC)
    assert spec.sale == SaleWindow(
        datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        datetime(2026, 12, 1, 10, tzinfo=UTC),
        datetime(2026, 12, 31, 18, tzinfo=UTC),
    )
    assert spec.admission == Admission(600, 200, 600)
    assert spec.hold_seconds == 480
    assert spec.limits == Limits(6, 6)
    assert spec.categories == (Category("STD", "Standard", 2500, 100, "EUR"),)
    assert spec.sections == (
        Section("FLOOR", "ga", "STD", 500),
        Section("BALC", "seated", "STD", 40, (Row("A", 20), Row("B", 20))),
    )
    assert spec.currency == "EUR"
    assert spec.section("BALC") is spec.sections[1]
    assert spec.section("NOPE") is None
    assert spec.category("STD").price_cents == 2500


def test_seat_ids_of_a_section() -> None:
    balc = example_spec().sections[1]
    ids = balc.seat_ids()
    assert len(ids) == 40
    assert ids[:2] == ["BALC-A-1", "BALC-A-2"]
    assert ids[19:21] == ["BALC-A-20", "BALC-B-1"]
    assert ids[-1] == "BALC-B-20"
    assert example_spec().sections[0].seat_ids() == []


def test_defaults() -> None:
    body = example_body()
    for key in ("admission", "limits", "hold_seconds"):
        del body[key]
    del body["sale"]["prequeue_opens_at"]
    del body["categories"][0]["fee_cents"]
    spec = parse_event(body)
    assert spec.admission == Admission(rate_per_minute=600, max_active=200, session_seconds=600)
    assert spec.limits == Limits(per_order=6, per_buyer=6)
    assert spec.hold_seconds == 480
    assert spec.categories[0].fee_cents == 0
    assert spec.language == "en"
    # The pre-queue opens 30 minutes before the sale by default.
    assert spec.sale.prequeue_opens_at == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert spec.sale.opens_at - spec.sale.prequeue_opens_at == timedelta(minutes=30)


def test_time_zones_are_kept_and_compared_as_instants() -> None:
    body = example_body()
    body["sale"]["opens_at"] = "2026-12-01T11:00:00+01:00"  # 10:00Z
    body["sale"]["prequeue_opens_at"] = "2026-12-01T10:00:00+01:00"
    spec = parse_event(body)
    assert spec.sale.opens_at == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert spec.sale.opens_at.utcoffset() == timedelta(hours=1)


def test_prequeue_equal_to_opening_is_fine() -> None:
    body = example_body()
    body["sale"]["prequeue_opens_at"] = body["sale"]["opens_at"]
    spec = parse_event(body)
    assert spec.sale.prequeue_opens_at == spec.sale.opens_at


def test_names_are_stripped() -> None:
    body = example_body()
    body["name"] = "  Night show  "
    assert parse_event(body).name == "Night show"


@pytest.mark.parametrize("body", [None, [], "event", 1])
def test_body_not_an_object(body: Any) -> None:
    assert _errors(body) == {"": "an object is required"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "an ISO 8601 time with a zone is required"),
        (1767211200, "an ISO 8601 time with a zone is required"),
        ("tomorrow", "not an ISO 8601 time"),
        ("2026-13-01T00:00:00Z", "not an ISO 8601 time"),
        ("2026-12-31T25:00:00Z", "not an ISO 8601 time"),
        ("", "not an ISO 8601 time"),
        ("2026-12-31T20:00:00", "the time needs a zone, e.g. 2026-12-31T20:00:00Z"),
        ("2026-12-31", "the time needs a zone, e.g. 2026-12-31T20:00:00Z"),
        ("0001-01-01T00:00:00Z", "the year must be between 1970 and 9000"),
        ("9999-12-31T23:59:59Z", "the year must be between 1970 and 9000"),
    ],
)
def test_bad_starts_at(value: Any, message: str) -> None:
    assert _mutated(lambda b: b.__setitem__("starts_at", value)) == {"starts_at": message}


def test_far_past_opening_does_not_overflow() -> None:
    # Opening in year 1 used to overflow "opens_at - 30 minutes" (a 500).
    def change(b: dict[str, Any]) -> None:
        b["sale"]["opens_at"] = "0001-01-01T00:00:00+05:00"
        del b["sale"]["prequeue_opens_at"]

    assert _mutated(change) == {"sale.opens_at": "the year must be between 1970 and 9000"}


@pytest.mark.parametrize("key", ["opens_at", "closes_at", "prequeue_opens_at"])
def test_bad_sale_time_reported_under_its_path(key: str) -> None:
    assert _mutated(lambda b: b["sale"].__setitem__(key, "noon")) == {
        f"sale.{key}": "not an ISO 8601 time"
    }


def test_missing_sale() -> None:
    assert _mutated(lambda b: b.pop("sale")) == {
        "sale.opens_at": "an ISO 8601 time with a zone is required",
        "sale.closes_at": "an ISO 8601 time with a zone is required",
    }


def test_sale_not_an_object() -> None:
    assert _mutated(lambda b: b.__setitem__("sale", "soon")) == {
        "sale": "an object is required",
        "sale.opens_at": "an ISO 8601 time with a zone is required",
        "sale.closes_at": "an ISO 8601 time with a zone is required",
    }


@pytest.mark.parametrize("closes", ["2026-12-01T09:59:59Z", "2026-12-01T10:00:00Z"])
def test_closes_not_after_opens(closes: str) -> None:
    assert _mutated(lambda b: b["sale"].__setitem__("closes_at", closes)) == {
        "sale.closes_at": "must be after sale.opens_at"
    }


def test_prequeue_after_opens() -> None:
    assert _mutated(
        lambda b: b["sale"].__setitem__("prequeue_opens_at", "2026-12-01T10:00:01Z")
    ) == {"sale.prequeue_opens_at": "must not be after sale.opens_at"}


@pytest.mark.parametrize("category", ["VIP", "std", None, 1, ["STD"], {"code": "STD"}])
def test_unknown_category(category: Any) -> None:
    assert _mutated(lambda b: b["sections"][0].__setitem__("category", category)) == {
        "sections[0].category": "must name one of the event's categories"
    }


def test_duplicate_category_codes() -> None:
    def change(b: dict[str, Any]) -> None:
        b["categories"].append(dict(b["categories"][0], name="Again"))

    assert _mutated(change) == {"categories": "category codes must be unique"}


def test_duplicate_section_codes() -> None:
    def change(b: dict[str, Any]) -> None:
        b["sections"][1]["code"] = "FLOOR"

    assert _mutated(change) == {"sections": "section codes must be unique"}


def test_mixed_currencies() -> None:
    def change(b: dict[str, Any]) -> None:
        b["categories"].append(
            {"code": "VIP", "name": "VIP", "price_cents": 1, "fee_cents": 0, "currency": "USD"}
        )

    assert _mutated(change) == {"categories": "all categories of an event use one currency"}


@pytest.mark.parametrize("kind", ["GA", "standing", None, 1, ["ga"]])
def test_bad_kind(kind: Any) -> None:
    assert _mutated(lambda b: b["sections"][0].__setitem__("kind", kind)) == {
        "sections[0].kind": "must be 'ga' or 'seated'"
    }


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (None, {"sections[1].rows": "a seated section needs a non-empty list of rows"}),
        ([], {"sections[1].rows": "a seated section needs a non-empty list of rows"}),
        ({"A": 20}, {"sections[1].rows": "a seated section needs a non-empty list of rows"}),
        (["A"], {"sections[1].rows[0]": "an object is required"}),
        (
            [{"row": "a", "seats": 5}],
            {"sections[1].rows[0].row": "a row name of 1-4 characters A-Z, 0-9"},
        ),
        (
            [{"row": "ABCDE", "seats": 5}],
            {"sections[1].rows[0].row": "a row name of 1-4 characters A-Z, 0-9"},
        ),
        (
            [{"row": "A-1", "seats": 5}],  # a dash would break SECTION-ROW-NUMBER ids
            {"sections[1].rows[0].row": "a row name of 1-4 characters A-Z, 0-9"},
        ),
        (
            [{"row": 1, "seats": 5}],
            {"sections[1].rows[0].row": "a row name of 1-4 characters A-Z, 0-9"},
        ),
        ([{"row": "A", "seats": 0}], {"sections[1].rows[0].seats": "must be between 1 and 200"}),
        ([{"row": "A", "seats": 201}], {"sections[1].rows[0].seats": "must be between 1 and 200"}),
        ([{"row": "A"}], {"sections[1].rows[0].seats": "an integer is required"}),
        ([{"row": "A", "seats": "5"}], {"sections[1].rows[0].seats": "an integer is required"}),
        (
            [{"row": "A", "seats": 5}, {"row": "A", "seats": 6}],
            {"sections[1].rows": "row names must be unique within a section"},
        ),
        (
            [{"row": "A", "seats": 5}, {"row": "b", "seats": 6}],
            {"sections[1].rows[1].row": "a row name of 1-4 characters A-Z, 0-9"},
        ),
    ],
)
def test_bad_rows(rows: Any, expected: dict[str, str]) -> None:
    assert _mutated(lambda b: b["sections"][1].__setitem__("rows", rows)) == expected


def test_seated_capacity_is_the_seat_count() -> None:
    body = example_body()
    body["sections"][1]["rows"] = [{"row": "A", "seats": 3}, {"row": "BB", "seats": 200}]
    body["sections"][1]["capacity"] = 9999  # ignored for seated sections
    assert parse_event(body).sections[1].capacity == 203
    assert parse_event(body).capacity == 703


# When the STD category goes, both sections name a category that is not there.
NO_STD = {
    "sections[0].category": "must name one of the event's categories",
    "sections[1].category": "must name one of the event's categories",
}


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("sections", 0, "capacity"), 0, {"sections[0].capacity": "must be between 1 and 200000"}),
        (
            ("sections", 0, "capacity"),
            200_001,
            {"sections[0].capacity": "must be between 1 and 200000"},
        ),
        (("sections", 0, "capacity"), True, {"sections[0].capacity": "an integer is required"}),
        (("sections", 0, "capacity"), 500.0, {"sections[0].capacity": "an integer is required"}),
        (
            ("sections", 0, "code"),
            "floor",
            {"sections[0].code": "use A-Z, 0-9 and _, at most 16 characters"},
        ),
        (
            ("sections", 0, "code"),
            "FL-OOR",
            {"sections[0].code": "use A-Z, 0-9 and _, at most 16 characters"},
        ),
        (("sections", 0, "code"), "", {"sections[0].code": "a non-empty string is required"}),
        (
            ("categories", 0, "code"),
            "A" * 17,
            {"categories[0].code": "use A-Z, 0-9 and _, at most 16 characters", **NO_STD},
        ),
        (
            ("categories", 0, "currency"),
            "eur",
            {"categories[0].currency": "an ISO 4217 code such as EUR"},
        ),
        (
            ("categories", 0, "currency"),
            "EURO",
            {"categories[0].currency": "an ISO 4217 code such as EUR"},
        ),
        (("categories", 0, "name"), " ", {"categories[0].name": "a non-empty string is required"}),
        (
            ("categories", 0, "price_cents"),
            -1,
            {"categories[0].price_cents": "must be between 0 and 10000000"},
        ),
        (
            ("categories", 0, "price_cents"),
            "2500",
            {"categories[0].price_cents": "an integer is required"},
        ),
        (
            ("categories", 0, "fee_cents"),
            1_000_001,
            {"categories[0].fee_cents": "must be between 0 and 1000000"},
        ),
        (
            ("admission", "rate_per_minute"),
            0,
            {"admission.rate_per_minute": "must be between 1 and 1000000"},
        ),
        (
            ("admission", "max_active"),
            None,
            {"admission.max_active": "an integer is required"},
        ),
        (
            ("admission", "session_seconds"),
            59,
            {"admission.session_seconds": "must be between 60 and 7200"},
        ),
        (("limits", "per_order"), 101, {"limits.per_order": "must be between 1 and 100"}),
        (("limits", "per_buyer"), 0, {"limits.per_buyer": "must be between 1 and 1000"}),
        (("hold_seconds",), 29, {"hold_seconds": "must be between 30 and 3600"}),
        (("hold_seconds",), 3601, {"hold_seconds": "must be between 30 and 3600"}),
        (("hold_seconds",), False, {"hold_seconds": "an integer is required"}),
        (("name",), "", {"name": "a non-empty string is required"}),
        (("name",), "x" * 201, {"name": "at most 200 characters"}),
        (("categories",), [], {"categories": "a non-empty list is required", **NO_STD}),
        (("sections",), {}, {"sections": "a non-empty list is required"}),
        (("categories", 0), "STD", {"categories[0]": "an object is required", **NO_STD}),
        (("sections", 1), None, {"sections[1]": "an object is required"}),
        (("admission",), [], {"admission": "an object is required"}),
        (("limits",), 6, {"limits": "an object is required"}),
    ],
)
def test_field_errors_reported_under_their_path(
    path: tuple[Any, ...], value: Any, expected: dict[str, str]
) -> None:
    def change(b: dict[str, Any]) -> None:
        target = b
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    assert _mutated(change) == expected


def test_missing_categories_reports_sections_too() -> None:
    assert _mutated(lambda b: b.pop("categories")) == {
        "categories": "a non-empty list is required",
        **NO_STD,
    }


def test_every_bad_field_is_reported_at_once() -> None:
    body = example_body()
    body["name"] = ""
    body["starts_at"] = "soon"
    body["sale"]["closes_at"] = "2020-01-01T00:00:00Z"
    body["hold_seconds"] = 1
    body["sections"][0]["kind"] = "pit"
    body["sections"][1]["rows"][1]["seats"] = 0
    assert _errors(body) == {
        "name": "a non-empty string is required",
        "starts_at": "not an ISO 8601 time",
        "sale.closes_at": "must be after sale.opens_at",
        "hold_seconds": "must be between 30 and 3600",
        "sections[0].kind": "must be 'ga' or 'seated'",
        "sections[1].rows[1].seats": "must be between 1 and 200",
    }


def test_spec_json_roundtrip() -> None:
    spec = example_spec()
    assert parse_event(spec_to_json(spec)) == spec
    assert spec_to_json(spec)["sale"]["opens_at"] == "2026-12-01T10:00:00Z"
    assert spec_to_json(spec)["sections"][0] == {
        "code": "FLOOR",
        "kind": "ga",
        "category": "STD",
        "capacity": 500,
    }


def test_iso() -> None:
    assert iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    plus_one = timezone(timedelta(hours=1))
    assert iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=plus_one)) == "2026-01-02T03:04:05+01:00"


@pytest.mark.parametrize("language", ["de", "", 1, None, "EN"])
def test_unknown_language(language: Any) -> None:
    assert _mutated(lambda b: b.update(language=language)) == {"language": "one of en, fr"}


def test_language_is_kept_and_patchable() -> None:
    spec = parse_event({**example_body(), "language": "fr"})
    assert spec.language == "fr"
    assert apply_patch(spec, {"language": "en"}).language == "en"


# --------------------------------------------------------------- apply_patch()


def test_patch_name() -> None:
    spec = example_spec()
    assert apply_patch(spec, {"name": "Late show"}) == replace(spec, name="Late show")


def test_patch_empty_is_identity() -> None:
    spec = example_spec()
    assert apply_patch(spec, {}) == spec


def test_patch_merges_nested_sale() -> None:
    spec = example_spec()
    patched = apply_patch(spec, {"sale": {"closes_at": "2026-12-31T19:00:00Z"}})
    assert patched.sale == replace(spec.sale, closes_at=datetime(2026, 12, 31, 19, tzinfo=UTC))


def test_patch_merges_nested_admission_and_limits() -> None:
    spec = example_spec()
    patched = apply_patch(
        spec, {"admission": {"rate_per_minute": 1200}, "limits": {"per_buyer": 10}}
    )
    assert patched.admission == Admission(1200, 200, 600)
    assert patched.limits == Limits(6, 10)
    assert patched.sections == spec.sections


def test_patch_several_fields() -> None:
    spec = example_spec()
    patched = apply_patch(spec, {"hold_seconds": 300, "starts_at": "2026-12-31T21:00:00Z"})
    assert patched == replace(
        spec, hold_seconds=300, starts_at=datetime(2026, 12, 31, 21, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"sections": []}, {"sections": "cannot be changed"}),
        ({"categories": []}, {"categories": "cannot be changed"}),
        ({"id": "x"}, {"id": "cannot be changed"}),
        ({"venue_id": "v2"}, {"venue_id": "cannot be changed"}),
        (
            {"name": "ok", "capacity": 10, "sections": []},
            {"capacity": "cannot be changed", "sections": "cannot be changed"},
        ),
    ],
)
def test_patch_forbidden_fields(body: dict[str, Any], expected: dict[str, str]) -> None:
    assert _errors(body, lambda b: apply_patch(example_spec(), b)) == expected


@pytest.mark.parametrize("body", [None, [], "name"])
def test_patch_not_an_object(body: Any) -> None:
    assert _errors(body, lambda b: apply_patch(example_spec(), b)) == {"": "an object is required"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"hold_seconds": 5}, {"hold_seconds": "must be between 30 and 3600"}),
        ({"name": None}, {"name": "a non-empty string is required"}),
        (
            {"sale": {"closes_at": "2026-12-01T09:00:00Z"}},
            {"sale.closes_at": "must be after sale.opens_at"},
        ),
        (
            {"sale": {"opens_at": "2026-12-01T09:00:00Z"}},  # before the kept pre-queue time
            {"sale.prequeue_opens_at": "must not be after sale.opens_at"},
        ),
        (
            {"admission": {"max_active": 0}},
            {"admission.max_active": "must be between 1 and 1000000"},
        ),
        ({"limits": "none"}, {"limits": "an object is required"}),
    ],
)
def test_patch_invalid_values(body: dict[str, Any], expected: dict[str, str]) -> None:
    assert _errors(body, lambda b: apply_patch(example_spec(), b)) == expected


# ---------------------------------------------------------------- parse_venue()


def test_parse_venue_api_example() -> None:
    body = {"name": "La Coopérative de Mai", "slug": "coopedemai", "timezone": "Europe/Paris"}
    assert parse_venue(body) == ("La Coopérative de Mai", "coopedemai", "Europe/Paris")


def test_parse_venue_default_timezone() -> None:
    assert parse_venue({"name": "V", "slug": "v-1"}) == ("V", "v-1", "UTC")


def test_parse_venue_slug_limits() -> None:
    assert parse_venue({"name": "V", "slug": "a" * 63})[1] == "a" * 63
    assert parse_venue({"name": "V", "slug": "9lives"})[1] == "9lives"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, {"": "an object is required"}),
        ([], {"": "an object is required"}),
        ({"slug": "ok-slug"}, {"name": "a non-empty string is required"}),
        ({"name": "V"}, {"slug": "a non-empty string is required"}),
        (
            {"name": "V", "slug": "Coop"},
            {"slug": "lower-case letters, digits and '-', 2-63 characters"},
        ),
        (
            {"name": "V", "slug": "-coop"},
            {"slug": "lower-case letters, digits and '-', 2-63 characters"},
        ),
        (
            {"name": "V", "slug": "a"},
            {"slug": "lower-case letters, digits and '-', 2-63 characters"},
        ),
        (
            {"name": "V", "slug": "coop_de_mai"},
            {"slug": "lower-case letters, digits and '-', 2-63 characters"},
        ),
        ({"name": "V", "slug": "a" * 64}, {"slug": "at most 63 characters"}),
        (
            {"name": "V", "slug": "v1", "timezone": "Mars/Olympus"},
            {"timezone": "an IANA time zone such as Europe/Paris"},
        ),
        (
            {"name": "V", "slug": "v1", "timezone": "../../etc/passwd"},
            {"timezone": "an IANA time zone such as Europe/Paris"},
        ),
        (
            {"name": "V", "slug": "v1", "timezone": ""},
            {"timezone": "an IANA time zone such as Europe/Paris"},
        ),
        (
            {"name": "V", "slug": "v1", "timezone": "Europe"},
            {"timezone": "an IANA time zone such as Europe/Paris"},
        ),
        (
            {"name": "V", "slug": "v1", "timezone": 2},
            {"timezone": "an IANA time zone such as Europe/Paris"},
        ),
        (
            {"name": "", "slug": "", "timezone": None},
            {
                "name": "a non-empty string is required",
                "slug": "a non-empty string is required",
                "timezone": "an IANA time zone such as Europe/Paris",
            },
        ),
    ],
)
def test_parse_venue_errors(body: Any, expected: dict[str, str]) -> None:
    assert _errors(body, parse_venue) == expected


# -------------------------------------------------------------- Event.status()

EVENT = Event(id="ev1", venue_id="v1", spec=example_spec())


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-01T00:00:00Z", "scheduled"),
        ("2026-12-01T09:29:59Z", "scheduled"),
        ("2026-12-01T09:30:00Z", "prequeue"),
        ("2026-12-01T09:59:59Z", "prequeue"),
        ("2026-12-01T10:00:00Z", "on_sale"),
        ("2026-12-01T11:00:00+01:00", "on_sale"),  # the same instant in another zone
        ("2026-12-31T17:59:59Z", "on_sale"),
        ("2026-12-31T18:00:00Z", "closed"),
        ("2027-06-01T00:00:00Z", "closed"),
    ],
)
def test_event_status(now: str, expected: str) -> None:
    assert EVENT.status(_t(now)) == expected


def test_event_status_sold_out() -> None:
    assert EVENT.status(_t("2026-12-01T12:00:00Z"), sold_out=True) == "sold_out"
    assert EVENT.status(_t("2026-12-31T18:00:00Z"), sold_out=True) == "closed"


@pytest.mark.parametrize("value", [4, 601, "20", None, 2.5])
def test_the_shopper_grace_is_5_to_600_seconds(value: Any) -> None:
    def change(body: dict[str, Any]) -> None:
        body["admission"]["shopper_grace_seconds"] = value

    assert set(_mutated(change)) == {"admission.shopper_grace_seconds"}


def test_the_shopper_grace_defaults_to_20_seconds_and_is_shown() -> None:
    assert example_spec().admission.shopper_grace_seconds == 20
    body = example_body()
    body["admission"]["shopper_grace_seconds"] = 45
    spec = parse_event(body)
    assert spec.admission.shopper_grace_seconds == 45
    assert spec_to_json(spec)["admission"]["shopper_grace_seconds"] == 45
