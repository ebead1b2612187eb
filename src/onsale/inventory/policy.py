"""Pure rules of the inventory: what a hold request means, and which seats
"best available" picks.

``best_available`` is the reference model of the choice made atomically inside
``lua/hold.lua``; a test drives both with the same seat maps and requires the
same answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from onsale.errors import ValidationFailed
from onsale.events.policy import EventSpec, Row

Mode = Literal["seats", "ga", "best"]
SEAT_NUMBER_RE = re.compile(r"[1-9][0-9]{0,5}")


@dataclass(frozen=True)
class HoldRequest:
    mode: Mode
    section: str
    quantity: int
    seats: tuple[str, ...] = ()


def parse_seat_id(seat_id: str) -> tuple[str, str, int] | None:
    """``BALC-A-12`` -> ("BALC", "A", 12), or None if it has not that shape."""
    parts = seat_id.rsplit("-", 2)
    # Only the canonical spelling: ASCII digits, no leading zero (not "01", "²", "١").
    if len(parts) != 3 or not SEAT_NUMBER_RE.fullmatch(parts[2]):
        return None
    return parts[0], parts[1], int(parts[2])


def seat_exists(spec: EventSpec, seat_id: str) -> bool:
    parsed = parse_seat_id(seat_id)
    if parsed is None:
        return False
    section = spec.section(parsed[0])
    if section is None or section.kind != "seated":
        return False
    return any(r.row == parsed[1] and 1 <= parsed[2] <= r.seats for r in section.rows)


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, fields={field: message})


def _parse_seats(spec: EventSpec, raw: Any) -> HoldRequest:
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
        raise _fail("seats", "a non-empty list of seat ids is required")
    if len(set(raw)) != len(raw):
        raise _fail("seats", "a seat is listed twice")
    unknown = [s for s in raw if not seat_exists(spec, s)]
    if unknown:
        raise ValidationFailed(
            "Unknown seats", fields={"seats": "unknown seat ids"}, unknown=unknown[:20]
        )
    sections = {s.rsplit("-", 2)[0] for s in raw}
    if len(sections) != 1:
        raise _fail("seats", "one hold takes seats of one section")
    return HoldRequest("seats", sections.pop(), len(raw), tuple(raw))


def parse_hold(spec: EventSpec, body: Any) -> HoldRequest:
    """Validate a hold request body (API.md: chosen seats, a GA quantity or the
    best available). Raises ValidationFailed naming the field."""
    if not isinstance(body, dict):
        raise _fail("", "an object is required")
    if "seats" in body:
        return _parse_seats(spec, body["seats"])
    code = body.get("section")
    section = spec.section(code) if isinstance(code, str) else None
    if section is None:
        raise _fail("section", "must name a section of the event")
    quantity = body.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100:
        raise _fail("quantity", "an integer from 1 to 100 is required")
    if section.kind == "ga":
        return HoldRequest("ga", section.code, quantity)
    if body.get("best_available") is not True:
        raise _fail("seats", "a seated section needs seats, or best_available: true")
    if quantity > max(r.seats for r in section.rows):
        raise _fail("quantity", "more seats than the longest row has")
    return HoldRequest("best", section.code, quantity)


def best_available(
    section: str, rows: Sequence[Row], states: Mapping[str, str], quantity: int, mine: str = ""
) -> list[str] | None:
    """The seats "best available" picks, or None when no row has room.

    Rows front to back; in a row, a block of adjacent usable seats (free, or
    already held by ``mine``); prefer a placement that leaves no lone empty
    seat on either side, then the block nearest the row's middle. When no row
    has such a placement, the first row with any room, middle-most block.
    """
    fallback: list[str] | None = None
    for r in rows:
        ids = [f"{section}-{r.row}-{n}" for n in range(1, r.seats + 1)]
        usable = [states.get(i) == "F" or (bool(mine) and states.get(i) == mine) for i in ids]
        good, loose = _placements(usable, quantity, r.seats)
        if good is not None:
            return ids[good : good + quantity]
        if loose is not None and fallback is None:
            fallback = ids[loose : loose + quantity]
    return fallback


def _placements(usable: list[bool], quantity: int, width: int) -> tuple[int | None, int | None]:
    """(best start leaving no lone seat, best start at all) of one row, 0-based."""
    best: tuple[int, int] | None = None  # (distance to middle, start)
    loose: tuple[int, int] | None = None
    n = 0
    while n < width:
        if not usable[n]:
            n += 1
            continue
        start = n
        while n < width and usable[n]:
            n += 1
        run = n - start
        for off in range(run - quantity + 1):
            first = start + off
            # distance of the block's middle to the row's middle, doubled (1-based seats)
            dist = abs(2 * (first + 1) + quantity - 1 - (width + 1))
            candidate = (dist, first)
            if off != 1 and run - quantity - off != 1:
                best = candidate if best is None or candidate < best else best
            else:
                loose = candidate if loose is None or candidate < loose else loose
    return (best[1] if best else None, loose[1] if loose else None)
