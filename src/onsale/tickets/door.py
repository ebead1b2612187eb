"""The door: who may scan (:func:`DoorService.scanner_for`, the one place a
scanner is authenticated) and what a scan answers (API.md's
``POST /api/door/scan``).

A scan is one transaction: record the scan id (the same id again gets the
first answer), check the code's signature with the venue's public key, find
the ticket, and check it in with the atomic step of door_repo.check_in
(exactly one ``admitted`` per ticket and check-in list, I11).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.errors import Unauthorized, ValidationFailed
from onsale.events.policy import iso
from onsale.monitoring import metrics, timing
from onsale.tickets import codes, door_repo
from onsale.tickets.keys import VenueKeys

SCAN_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
GATE_RE = re.compile(r"^[\w .-]{1,32}$")
MAX_CODE = 512
RESULTS = ("admitted", "already_admitted", "invalid", "refunded", "wrong_event")
# An offline scan uploaded later keeps the time the phone saw it, within
# reason: not from the future, not from before the door opened a day ago.
MAX_OFFLINE_AGE = timedelta(days=2)


@dataclass(frozen=True)
class Scanner:
    venue_id: str
    event_id: str | None  # None: every event of the venue (a door-role staff key)
    key_id: str


@dataclass(frozen=True)
class ScanRequest:
    code: str
    scan_id: str
    gate: str
    offline: bool
    scanned_at: datetime
    local_result: str | None = None


def _offline_time(raw: Any, now: datetime, errors: dict[str, str]) -> datetime:
    if raw is None:
        return now
    try:
        when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        errors["scanned_at"] = "an ISO 8601 time"
        return now
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when, now - MAX_OFFLINE_AGE), now)


def parse_scan(body: Any, now: datetime) -> ScanRequest:
    """Raises ValidationFailed (pure)."""
    if not isinstance(body, dict):
        raise ValidationFailed("A JSON object is required", fields={"body": "an object"})
    errors: dict[str, str] = {}
    code, scan_id = body.get("code"), body.get("scan_id")
    gate = body.get("gate", "main")
    if not isinstance(code, str) or not code or len(code) > MAX_CODE:
        errors["code"] = f"a string of 1-{MAX_CODE} characters"
    if not isinstance(scan_id, str) or not SCAN_ID_RE.match(scan_id):
        errors["scan_id"] = "8-128 of A-Z a-z 0-9 _ . : -"
    if not isinstance(gate, str) or not GATE_RE.match(gate):
        errors["gate"] = "1-32 letters, digits, spaces, _ . -"
    offline = body.get("offline", False)
    if not isinstance(offline, bool):
        errors["offline"] = "true or false"
    scanned_at = _offline_time(body.get("scanned_at") if offline else None, now, errors)
    local = body.get("local_result") if offline else None
    if local is not None and local not in RESULTS:
        errors["local_result"] = "one of " + ", ".join(RESULTS)
    if errors:
        raise ValidationFailed("Some fields are invalid", fields=errors)
    assert isinstance(code, str) and isinstance(scan_id, str) and isinstance(gate, str)
    return ScanRequest(code.strip(), scan_id, gate, bool(offline), scanned_at, local)


def ticket_json(row: Any) -> dict[str, Any]:
    return {
        "ticket_id": row.id,
        "event_id": row.event_id,
        "number": row.number,
        "section": row.section,
        "seat": row.seat,
        "status": row.status,
    }


def answer(result: str, ticket: Any = None, first: datetime | None = None) -> dict[str, Any]:
    return {
        "result": result,
        "ticket": ticket_json(ticket) if ticket is not None else None,
        "first_scanned_at": iso(first) if first else None,
    }


@dataclass
class DoorService:
    engine: AsyncEngine
    keys: VenueKeys
    # Off only in the negative control of I11: look, then write.
    atomic_checkin: bool = True
    # The venue's staff keys (admin.access.staff_scanner, handed in by the
    # runtime: tickets/ does not import admin/): a door-role (or manager)
    # key scans every event of its venue. Raises Unauthorized or Forbidden.
    staff: Callable[[str], Awaitable[Scanner]] | None = None

    async def scanner_for(self, token: str | None) -> Scanner:
        """The scanner a key belongs to: a door key (one event) or a staff
        key whose role may scan (every event of its venue). Raises
        Unauthorized, Forbidden (a staff role that may not scan)."""
        if token and not token.startswith(door_repo.KEY_PREFIX) and self.staff is not None:
            return await self.staff(token)
        if not token or not token.startswith(door_repo.KEY_PREFIX):
            raise Unauthorized("A door key is required")
        key = await door_repo.key_by_secret(self.engine, token)
        if key is None:
            raise Unauthorized("This door key is not valid")
        return Scanner(key.venue_id, key.event_id, key.id)

    async def events_of(self, scanner: Scanner) -> list[str]:
        if scanner.event_id is not None:
            return [scanner.event_id]
        return await door_repo.venue_events(self.engine, scanner.venue_id)

    async def bundle(self, scanner: Scanner) -> dict[str, Any]:
        """What a door device needs to check tickets with the network off."""
        event_ids = await self.events_of(scanner)
        return {
            "venue_id": scanner.venue_id,
            "event_id": scanner.event_id,
            "event_ids": event_ids,
            "public_keys": await self.keys.publics_b64(scanner.venue_id),
            "voided": await door_repo.voided(self.engine, event_ids),
            "admitted": await door_repo.admitted_ids(self.engine, event_ids),
            "generated_at": iso(datetime.now(UTC)),
        }

    @timing.postgres
    async def scan(self, scanner: Scanner, body: Any) -> dict[str, Any]:
        """API.md's answer. Raises ValidationFailed."""
        req = parse_scan(body, datetime.now(UTC))
        parsed = await self._verify(scanner.venue_id, req.code)
        event_id = scanner.event_id or (parsed.event_id if parsed else None)
        async with self.engine.begin() as conn:
            fresh = await door_repo.claim_scan(
                conn,
                venue_id=scanner.venue_id,
                scan_id=req.scan_id,
                event_id=event_id,
                gate=req.gate,
                scanned_at=req.scanned_at,
                offline=req.offline,
                local_result=req.local_result,
            )
            if fresh:
                ticket_id, out = await self._decide(conn, scanner, req, parsed)
                await door_repo.finish_scan(
                    conn,
                    scanner.venue_id,
                    req.scan_id,
                    ticket_id=ticket_id,
                    result=out["result"],
                    answer=out,
                )
        if not fresh:
            stored = await door_repo.scan_answer(self.engine, scanner.venue_id, req.scan_id)
            return stored or answer("invalid")
        metrics.DOOR_SCANS.labels(event_id or "", req.gate, out["result"]).inc()
        return out

    async def _verify(self, venue_id: str, code: str) -> codes.Parsed | None:
        parsed = codes.verify(await self.keys.publics(venue_id), code)
        if parsed is None and codes.parse(code) is not None:
            # Signed by a key this process has not seen yet? Read them again.
            parsed = codes.verify(await self.keys.publics(venue_id, fresh=True), code)
        return parsed

    async def _decide(
        self, conn: Any, scanner: Scanner, req: ScanRequest, parsed: codes.Parsed | None
    ) -> tuple[str | None, dict[str, Any]]:
        if parsed is None:  # not signed by this venue's key: forged or another venue's
            return None, answer("invalid")
        if scanner.event_id is not None and parsed.event_id != scanner.event_id:
            return None, answer("wrong_event")
        ticket = await door_repo.ticket(conn, parsed.event_id, parsed.ticket_id)
        if ticket is None:
            return None, answer("invalid")
        if ticket.status != "live":
            return ticket.id, answer("refunded", ticket)
        step = door_repo.check_in if self.atomic_checkin else door_repo.check_in_unguarded
        won = await step(
            conn,
            event_id=parsed.event_id,
            ticket_id=ticket.id,
            gate=req.gate,
            scan_id=req.scan_id,
            scanned_at=req.scanned_at,
        )
        if won:
            return ticket.id, answer("admitted", ticket, req.scanned_at)
        first = await door_repo.checked_in(conn, parsed.event_id, ticket.id)
        return ticket.id, answer("already_admitted", ticket, first.scanned_at if first else None)
