"""Seats and general-admission capacity in Redis: every change is one Lua script.

The scripts live in ``lua/``; each answers ``{"ok", ...}`` or
``{"err", code, detail}``, and this module turns the latter into the domain
error of that code (``onsale.errors.SCRIPT_ERRORS``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from onsale.errors import SCRIPT_ERRORS, OnsaleError, SeatsUnavailable
from onsale.events.policy import EventSpec
from onsale.inventory.policy import HoldRequest
from onsale.keys import EventKeys, event_keys
from onsale.monitoring import metrics
from onsale.redis import AnyRedis, Scripts

# A hold done another way than hold.lua: only the negative controls of I1/I2
# give one (tests/concurrency/unsafe.py, a check-then-write from Python with
# which concurrent buyers oversell).
UnsafeHold = Callable[[AnyRedis, EventKeys, str, str, HoldRequest], Awaitable[str]]

SCRIPTS = [
    "hold",
    "release",
    "begin_checkout",
    "abort_checkout",
    "commit_sold",
    "refund",
    "rebuild",
    "reclaim",
]


@dataclass(frozen=True)
class Hold:
    hold_id: str
    entry: str
    section: str
    seats: tuple[str, ...]
    quantity: int
    expires_ms: int  # when the hold itself runs out (Redis clock)
    state: str  # "held" | "checkout"

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires_ms / 1000, UTC)

    @classmethod
    def from_record(cls, raw: str) -> Hold:
        r = json.loads(raw)
        return cls(
            r["id"], r["e"], r["sec"], tuple(r["seats"] or ()), int(r["q"]), int(r["hx"]), r["st"]
        )


@dataclass(frozen=True)
class Sale:
    """What one order bought, as the scripts need it."""

    section: str
    seats: tuple[str, ...]
    quantity: int
    entry: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {"sec": self.section, "seats": list(self.seats), "q": self.quantity, "e": self.entry}
        )


@dataclass(frozen=True)
class Counts:
    capacity: int
    held: int
    sold: int
    ready: bool

    @property
    def available(self) -> int:
        return max(self.capacity - self.held - self.sold, 0)


def _raise(reply: list[Any]) -> None:
    """Raise the domain error of a script's ``{"err", code, detail}`` answer."""
    code = str(reply[1])
    detail = reply[2] if len(reply) > 2 else ""
    error = SCRIPT_ERRORS.get(code, OnsaleError)
    if error is SeatsUnavailable:
        parsed = json.loads(detail) if detail else []
        if isinstance(parsed, list):
            raise SeatsUnavailable(unavailable=parsed)
        raise SeatsUnavailable(**parsed)
    if detail:
        try:
            details = json.loads(detail)
        except ValueError:
            details = {"reason": detail}
        raise error(**details) if isinstance(details, dict) else error()
    raise error()


def _ok(reply: list[Any]) -> Any:
    if reply[0] != "ok":
        _raise(reply)
    return reply[1]


class InventoryStore:
    def __init__(
        self, client: AnyRedis, prefix: str, *, unsafe_hold: UnsafeHold | None = None
    ) -> None:
        self._client = client
        self._prefix = prefix
        # None in production: holds run hold.lua, atomically.
        self.unsafe_hold = unsafe_hold
        self._scripts = Scripts(
            client,
            "onsale.inventory.lua",
            SCRIPTS,
            prelude="_lib",
            seconds=metrics.REDIS_SCRIPT_SECONDS,
        )

    def keys(self, event_id: str) -> EventKeys:
        return event_keys(self._prefix, event_id)

    async def _run(self, name: str, event_id: str, args: list[Any]) -> Any:
        reply = await self._scripts.call(name, self.keys(event_id).inventory(), args)
        return _ok(reply)

    async def hold(
        self,
        event_id: str,
        hold_id: str,
        entry: str,
        request: HoldRequest,
        *,
        boxoffice: bool = False,
    ) -> Hold:
        """Take what ``request`` asks for, all or nothing.

        Raises SeatsUnavailable (details name the seats), LimitExceeded,
        Forbidden (no live shopping session), CheckoutInProgress, or
        Unavailable when the inventory is not built yet.
        """
        if self.unsafe_hold is not None:
            record = await self.unsafe_hold(
                self._client, self.keys(event_id), hold_id, entry, request
            )
            return Hold.from_record(record)
        reply = await self._scripts.call(
            "hold",
            self.keys(event_id).inventory(),
            [
                hold_id,
                entry,
                request.mode,
                request.section,
                request.quantity,
                "1" if boxoffice else "0",
                *request.seats,
            ],
        )
        if reply[0] != "ok":
            _raise(reply)
        # The script answers only what the caller does not know: the expiry
        # and the seats it chose (a JSON record to decode cost more).
        return Hold(
            hold_id, entry, request.section, tuple(reply[2:]), request.quantity, reply[1], "held"
        )

    async def release(self, event_id: str, hold_id: str, entry: str) -> int:
        """Give a hold back. Raises NotFound, Forbidden, CheckoutInProgress."""
        return int(await self._run("release", event_id, [hold_id, entry]))

    async def begin_checkout(
        self,
        event_id: str,
        hold_id: str,
        entry: str,
        grace_ms: int,
        *,
        claim: str = "",
        max_declines: int = 0,
    ) -> Hold:
        """Checkout step 1, for the attempt named ``claim`` ("": no claim, as
        at the box office); ``max_declines`` 0 sets no limit.

        Raises NotFound (no such hold, as far as Redis remembers), HoldExpired
        (it ended), Forbidden (another fan's), CheckoutInProgress (another
        attempt claimed it), RateLimited (``max_declines`` declined already),
        Unavailable.
        """
        return Hold.from_record(
            await self._run(
                "begin_checkout", event_id, [hold_id, entry, grace_ms, claim, max_declines]
            )
        )

    async def abort_checkout(self, event_id: str, hold_id: str, *, declined: bool = False) -> None:
        """Back from checkout to a plain hold, ending the attempt's claim;
        ``declined`` counts a declined payment. Raises HoldExpired if it ran out."""
        await self._run("abort_checkout", event_id, [hold_id, "1" if declined else "0"])

    async def commit_sold(self, event_id: str, order_id: str, hold_id: str, sale: Sale) -> bool:
        """Checkout step 4; True if it changed anything (False: ran before)."""
        return bool(
            await self._run("commit_sold", event_id, [order_id, hold_id, sale.to_json()]) == "sold"
        )

    async def refund(self, event_id: str, order_id: str, sale: Sale) -> bool:
        return bool(await self._run("refund", event_id, [order_id, sale.to_json()]) == "refunded")

    async def rebuild(self, event_id: str, spec: EventSpec, sold: list[tuple[str, Sale]]) -> str:
        """Build (or re-configure) the event's inventory; "built" or "configured"."""
        config = {
            "per_order": spec.limits.per_order,
            # The per-entry limit is the per-buyer one: one queue entry is one buyer.
            "per_entry": spec.limits.per_buyer,
            "hold_ms": spec.hold_seconds * 1000,
            "sections": [
                {
                    "code": s.code,
                    "kind": s.kind,
                    "capacity": s.capacity,
                    "rows": [{"row": r.row, "seats": r.seats} for r in s.rows],
                }
                for s in spec.sections
            ],
        }
        orders = [
            {"id": oid, "sec": s.section, "seats": list(s.seats), "q": s.quantity, "e": s.entry}
            for oid, s in sold
        ]
        return str(await self._run("rebuild", event_id, [json.dumps(config), json.dumps(orders)]))

    async def reclaim(self, event_id: str) -> int:
        """Free the expired holds now (scripts also do it lazily)."""
        return int(await self._run("reclaim", event_id, []))

    async def counts(self, event_id: str) -> Counts:
        values = await self._client.hmget(
            self.keys(event_id).meta, ["capacity", "held", "sold", "ready"]
        )
        capacity, held, sold, ready = values
        return Counts(int(capacity or 0), int(held or 0), int(sold or 0), ready == "1")

    async def seat_marks(self, event_id: str) -> dict[str, str]:
        """seat id -> "F" | "H:<hold_id>" | "S:<order_id>", as stored."""
        raw = await self._client.hgetall(self.keys(event_id).seats)
        return cast(dict[str, str], raw)

    async def seat_states(self, event_id: str) -> dict[str, str]:
        """seat id -> "free" | "held" | "sold"."""
        names = {"F": "free", "H": "held", "S": "sold"}
        return {seat: names[v[0]] for seat, v in (await self.seat_marks(event_id)).items()}

    async def ga_counts(self, event_id: str) -> dict[str, dict[str, int]]:
        """section -> {"cap", "held", "sold"} of the GA sections."""
        raw = cast(dict[str, str], await self._client.hgetall(self.keys(event_id).ga))
        out: dict[str, dict[str, int]] = {}
        for field, value in raw.items():
            section, _, what = field.rpartition(":")
            out.setdefault(section, {})[what] = int(value)
        return out

    async def sold_orders(self, event_id: str) -> set[str]:
        return {str(k) for k in await self._client.hkeys(self.keys(event_id).sold_orders)}

    async def live_holds(self, event_id: str) -> list[Hold]:
        raw = await self._client.hvals(self.keys(event_id).holds)
        return [Hold.from_record(str(r)) for r in raw]

    async def drop(self, event_id: str) -> None:
        """Delete every key of the event (tests and the chaos tools only)."""
        await self._client.delete(*self.keys(event_id).all())
