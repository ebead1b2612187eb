"""Inventory rules: seat ids, hold requests and the best-available choice."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onsale.errors import ValidationFailed
from onsale.events.policy import Row
from onsale.inventory.policy import (
    HoldRequest,
    best_available,
    parse_hold,
    parse_seat_id,
    seat_exists,
)
from tests.unit._specs import example_spec, two_tier_spec

SPEC = example_spec()
SPEC2 = two_tier_spec()

# ------------------------------------------------------------ parse_seat_id()


@pytest.mark.parametrize(
    ("seat_id", "expected"),
    [
        ("BALC-A-12", ("BALC", "A", 12)),
        ("BALC-A-1", ("BALC", "A", 1)),
        ("VIP_1-AA12-200", ("VIP_1", "AA12", 200)),
        ("X-1-7", ("X", "1", 7)),
    ],
)
def test_parse_seat_id(seat_id: str, expected: tuple[str, str, int]) -> None:
    assert parse_seat_id(seat_id) == expected


@pytest.mark.parametrize(
    "seat_id",
    [
        "",
        "BALC",
        "BALC-A",
        "BALC-A-",
        "BALC-A-x",
        "BALC-A-1x",
        "BALC-A-+1",
        "BALC-A- 1",
        "BALC-A-1 ",
        "BALC-A-1.0",
        "BALC-A-0",
        "BALC-A-01",  # not the canonical spelling of BALC-A-1
        "BALC-A-²",  # str.isdigit() is true, int() refuses it
        "BALC-A-١",  # Arabic-Indic one
        "BALC-A-１",  # full-width one
        "BALC-A-" + "9" * 5000,  # beyond int()'s digit limit
    ],
)
def test_parse_seat_id_rejects(seat_id: str) -> None:
    assert parse_seat_id(seat_id) is None


@pytest.mark.parametrize(
    ("seat_id", "exists"),
    [
        ("BALC-A-1", True),
        ("BALC-A-20", True),
        ("BALC-B-20", True),
        ("BALC-B-21", False),
        ("BALC-A-0", False),
        ("BALC-A-01", False),
        ("BALC-C-1", False),
        ("BALC-a-1", False),
        ("FLOOR-A-1", False),  # general admission has no seats
        ("NOPE-A-1", False),
        ("garbage", False),
        ("BALC-A--1", False),
        ("", False),
    ],
)
def test_seat_exists(seat_id: str, exists: bool) -> None:
    assert seat_exists(SPEC, seat_id) is exists


# --------------------------------------------------------------- parse_hold()


def _hold_error(body: Any, spec: Any = SPEC) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        parse_hold(spec, body)
    assert info.value.status == 422
    assert info.value.code == "validation_error"
    return info.value


def test_hold_chosen_seats() -> None:
    assert parse_hold(SPEC, {"seats": ["BALC-A-1", "BALC-A-2"]}) == HoldRequest(
        "seats", "BALC", 2, ("BALC-A-1", "BALC-A-2")
    )


def test_hold_seats_win_over_section_fields() -> None:
    body = {"seats": ["BALC-B-3"], "section": "FLOOR", "quantity": 5}
    assert parse_hold(SPEC, body) == HoldRequest("seats", "BALC", 1, ("BALC-B-3",))


def test_hold_ga() -> None:
    assert parse_hold(SPEC, {"section": "FLOOR", "quantity": 2}) == HoldRequest("ga", "FLOOR", 2)
    assert parse_hold(SPEC, {"section": "FLOOR", "quantity": 1}).quantity == 1
    assert parse_hold(SPEC, {"section": "FLOOR", "quantity": 100}).quantity == 100


def test_hold_best_available() -> None:
    body = {"section": "BALC", "quantity": 2, "best_available": True}
    assert parse_hold(SPEC, body) == HoldRequest("best", "BALC", 2)
    body["quantity"] = 20  # exactly a row
    assert parse_hold(SPEC, body) == HoldRequest("best", "BALC", 20)


@pytest.mark.parametrize("body", [None, [], "seats", 3, ["BALC-A-1"]])
def test_hold_body_not_an_object(body: Any) -> None:
    assert _hold_error(body).details == {"fields": {"": "an object is required"}}


@pytest.mark.parametrize(
    "seats", [[], "BALC-A-1", None, [1], ["BALC-A-1", None], {"BALC-A-1": 1}, [["BALC-A-1"]]]
)
def test_hold_seats_shape(seats: Any) -> None:
    err = _hold_error({"seats": seats})
    assert err.details == {"fields": {"seats": "a non-empty list of seat ids is required"}}


def test_hold_seat_listed_twice() -> None:
    err = _hold_error({"seats": ["BALC-A-1", "BALC-A-2", "BALC-A-1"]})
    assert err.details == {"fields": {"seats": "a seat is listed twice"}}


def test_hold_unknown_seats_named() -> None:
    err = _hold_error({"seats": ["BALC-A-1", "BALC-Z-1", "BALC-A-21", "BALC-A-01", "FLOOR-A-1"]})
    assert err.details == {
        "fields": {"seats": "unknown seat ids"},
        "unknown": ["BALC-Z-1", "BALC-A-21", "BALC-A-01", "FLOOR-A-1"],
    }


def test_hold_unknown_seats_list_is_capped() -> None:
    bad = [f"BALC-Z-{n}" for n in range(1, 31)]
    assert _hold_error({"seats": bad}).details["unknown"] == bad[:20]


def test_hold_one_section_per_hold() -> None:
    err = _hold_error({"seats": ["BALC-A-1", "LOGE-1-1"]}, SPEC2)
    assert err.details == {"fields": {"seats": "one hold takes seats of one section"}}


@pytest.mark.parametrize(
    "body",
    [
        {"quantity": 2},
        {"section": "NOPE", "quantity": 2},
        {"section": "floor", "quantity": 2},
        {"section": ["FLOOR"], "quantity": 2},
        {"section": None, "quantity": 2},
        {"section": 1, "quantity": 2},
    ],
)
def test_hold_section_errors(body: dict[str, Any]) -> None:
    assert _hold_error(body).details == {"fields": {"section": "must name a section of the event"}}


@pytest.mark.parametrize("quantity", [None, 0, -1, 101, True, False, 2.0, "2", [2]])
@pytest.mark.parametrize("section", ["FLOOR", "BALC"])
def test_hold_quantity_errors(quantity: Any, section: str) -> None:
    body: dict[str, Any] = {"section": section, "best_available": True}
    if quantity is not None:
        body["quantity"] = quantity
    err = _hold_error(body)
    assert err.details == {"fields": {"quantity": "an integer from 1 to 100 is required"}}


@pytest.mark.parametrize("flag", [None, False, "true", 1])
def test_hold_seated_needs_seats_or_best_available(flag: Any) -> None:
    body: dict[str, Any] = {"section": "BALC", "quantity": 2}
    if flag is not None:
        body["best_available"] = flag
    err = _hold_error(body)
    assert err.details == {
        "fields": {"seats": "a seated section needs seats, or best_available: true"}
    }


def test_hold_best_available_longer_than_any_row() -> None:
    err = _hold_error({"section": "BALC", "quantity": 21, "best_available": True})
    assert err.details == {"fields": {"quantity": "more seats than the longest row has"}}
    err = _hold_error({"section": "LOGE", "quantity": 5, "best_available": True}, SPEC2)
    assert err.details["fields"] == {"quantity": "more seats than the longest row has"}


# ------------------------------------------------------------ best_available()

MINE = "H:mine"


def _map(section: str, rows: dict[str, str]) -> tuple[list[Row], dict[str, str]]:
    """Rows drawn as strings: '.' free, 'X' sold, 'o' held by another, 'm' held by MINE."""
    states: dict[str, str] = {}
    code = {".": "F", "X": "S", "o": "H:other", "m": MINE}
    for row, drawing in rows.items():
        for n, ch in enumerate(drawing, start=1):
            states[f"{section}-{row}-{n}"] = code[ch]
    return [Row(row, len(drawing)) for row, drawing in rows.items()], states


def _best(rows: dict[str, str], quantity: int, mine: str = "") -> list[str] | None:
    row_list, states = _map("S", rows)
    return best_available("S", row_list, states, quantity, mine)


def test_best_empty_row_takes_the_middle() -> None:
    assert _best({"A": ".........."}, 2) == ["S-A-5", "S-A-6"]
    assert _best({"A": ".........."}, 4) == ["S-A-4", "S-A-5", "S-A-6", "S-A-7"]
    assert _best({"A": "..........."}, 1) == ["S-A-6"]
    assert _best({"A": "..........."}, 3) == ["S-A-5", "S-A-6", "S-A-7"]


def test_best_middle_tie_goes_to_the_lower_numbers() -> None:
    assert _best({"A": ".........."}, 3) == ["S-A-4", "S-A-5", "S-A-6"]
    assert _best({"A": ".........."}, 1) == ["S-A-5"]


def test_best_front_row_first() -> None:
    rows = {"A": "XXXX..XXXX", "B": ".........."}
    assert _best(rows, 2) == ["S-A-5", "S-A-6"]


def test_best_skips_full_rows() -> None:
    rows = {"A": "XXXXXXXXXX", "B": "XoXoXoXoXo", "C": ".........."}
    assert _best(rows, 2) == ["S-C-5", "S-C-6"]


def test_best_whole_row_exact_fit() -> None:
    assert _best({"A": "XX...XXXXX"}, 3) == ["S-A-3", "S-A-4", "S-A-5"]
    assert _best({"A": "...."}, 4) == ["S-A-1", "S-A-2", "S-A-3", "S-A-4"]


def test_best_nearest_middle_among_blocks_not_row_centre() -> None:
    # Seats 5-6 (the centre) are sold; 7-8 is the middle-most block leaving no lone seat.
    assert _best({"A": "....XX......"}, 2) == ["S-A-7", "S-A-8"]


def test_best_avoids_a_lone_seat_within_the_row() -> None:
    # Free 3-8. Centred 5-6 would leave 3-4 and 7-8 (fine); 4-5 would strand seat 3.
    assert _best({"A": "XX......XX"}, 2) == ["S-A-5", "S-A-6"]
    # Free 2-7, 4 wanted: 3-6 strands seat 2; 4-7 is centred on the row (5.5) and clean.
    assert _best({"A": "X......XXX"}, 4) == ["S-A-4", "S-A-5", "S-A-6", "S-A-7"]
    # In a row of three, the centre seat would strand both ends: an end seat is taken.
    assert _best({"A": "..."}, 1) == ["S-A-1"]


def test_best_moves_back_a_row_rather_than_leave_a_lone_seat() -> None:
    # Row A has 4 free (4-7): any 3 strand one seat. Row B can take 3 cleanly.
    rows = {"A": "XXX....XXX", "B": ".........."}
    assert _best(rows, 3) == ["S-B-4", "S-B-5", "S-B-6"]


def test_best_falls_back_to_first_row_with_room_when_a_lone_seat_is_unavoidable() -> None:
    rows = {"A": "XXX....XXX", "B": "XX....XXXX"}
    assert _best(rows, 3) == ["S-A-4", "S-A-5", "S-A-6"]


def test_best_fallback_only_when_no_row_is_clean() -> None:
    # Row A only loose, row B loose, row C clean at the back: C wins.
    rows = {"A": "XXX....XXX", "B": "XX....XXXX", "C": "XXXXXXX..."}
    assert _best(rows, 3) == ["S-C-8", "S-C-9", "S-C-10"]


def test_best_counts_my_own_held_seats_as_usable() -> None:
    rows = {"A": "XXXXmmXXXX"}
    assert _best(rows, 2, mine=MINE) == ["S-A-5", "S-A-6"]
    assert _best(rows, 2) is None  # without naming the hold they are taken
    assert _best({"A": "XXX.mm.XXX"}, 4, mine=MINE) == ["S-A-4", "S-A-5", "S-A-6", "S-A-7"]


def test_best_never_takes_other_holds() -> None:
    assert _best({"A": "XXXXooXXXX"}, 2, mine=MINE) is None
    assert _best({"A": "XXXXooXXXX", "B": "XXXXXXXmmX"}, 2, mine=MINE) == ["S-B-8", "S-B-9"]


def test_best_none_when_no_room() -> None:
    assert _best({"A": "XXXXXXXXXX", "B": "oooooooooo"}, 1) is None
    assert _best({"A": "X.X.X.X.X.", "B": ".X.X.X.X.X"}, 2) is None
    assert _best({"A": "..X..", "B": "..X.."}, 3) is None
    assert _best({"A": "...."}, 5) is None


def test_best_single_seat_in_gaps() -> None:
    assert _best({"A": "X.XXXXXXXX"}, 1) == ["S-A-2"]
    # Seat 3 (run of one) is a clean pick; 6 and 7 (run of two) would strand the other.
    assert _best({"A": "XX.XX..XXX"}, 1) == ["S-A-3"]


def test_best_unknown_or_empty_states_are_not_usable() -> None:
    rows = [Row("A", 4)]
    states = {"S-A-1": "F", "S-A-2": "F", "S-A-3": ""}  # S-A-4 missing entirely
    assert best_available("S", rows, states, 2) == ["S-A-1", "S-A-2"]
    assert best_available("S", rows, states, 3) is None
    # An empty ``mine`` never turns an empty state into "mine".
    assert best_available("S", rows, states, 3, mine="") is None


def test_best_uses_the_section_code_in_ids() -> None:
    rows, states = _map("BALC", {"A": ".....", "B": "....."})
    assert best_available("BALC", rows, states, 1) == ["BALC-A-3"]
    assert best_available("OTHER", rows, states, 1) is None


def _reference_best(rows: dict[str, str], quantity: int) -> list[str] | None:
    """A brute-force restatement of the rule, to compare on random seat maps."""
    clean: list[tuple[int, int, int]] = []  # (row index, distance to middle, start)
    loose: list[tuple[int, int, int]] = []
    for index, drawing in enumerate(rows.values()):
        width = len(drawing)
        for start in range(1, width - quantity + 2):
            block = drawing[start - 1 : start - 1 + quantity]
            if set(block) != {"."}:
                continue
            left = len(drawing[: start - 1]) - len(drawing[: start - 1].rstrip("."))
            after = drawing[start - 1 + quantity :]
            right = len(after) - len(after.lstrip("."))
            dist = abs((2 * start + quantity - 1) - (width + 1))
            (loose if 1 in (left, right) else clean).append((index, dist, start))
    pick = min(clean) if clean else min(loose) if loose else None
    if pick is None:
        return None
    row = list(rows)[pick[0]]
    return [f"S-{row}-{n}" for n in range(pick[2], pick[2] + quantity)]


@settings(max_examples=300, deadline=None, database=None)
@given(
    drawings=st.lists(st.text(alphabet=".X", min_size=1, max_size=14), min_size=1, max_size=5),
    quantity=st.integers(min_value=1, max_value=6),
)
def test_best_matches_a_brute_force_reference(drawings: list[str], quantity: int) -> None:
    rows = {chr(ord("A") + i): d for i, d in enumerate(drawings)}
    got = _best(rows, quantity)
    assert got == _reference_best(rows, quantity)
    if got is not None:
        assert len(got) == quantity
        parsed = [parse_seat_id(s) for s in got]
        assert len({p[1] for p in parsed if p}) == 1  # one row
        numbers = [p[2] for p in parsed if p]
        assert numbers == list(range(numbers[0], numbers[0] + quantity))  # adjacent
