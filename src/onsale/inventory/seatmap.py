"""The seat map (``GET /api/events/{id}/seats``) as a built, compressed body
that every request of the next second shares.

A 40,000-seat event's map is about 3 MB of JSON; built per request it was a
Redis HGETALL of 40,000 fields (which blocks Redis for everyone meanwhile), a
40,000-dict list and a JSON encoding, for every anonymous fan who opened the
page or refreshed it. Here a process reads the seat states of an event once
per window (``ONSALE_SEAT_MAP_CACHE_SECONDS``, :data:`CACHE_SECONDS` by
default), builds each map asked for (the whole event, or one section:
``?section=CODE``) once per reading from a template made once per event
definition, gzips it once, and answers:

- ``Content-Encoding: gzip`` to a client that accepts it (``Vary:
  Accept-Encoding``); done here, not by a middleware: the app has one
  middleware by design (``onsale.monitoring.middleware``);
- ``Cache-Control: public, max-age=1`` and a weak ``ETag`` of the content:
  ``If-None-Match`` with it gets ``304`` and no body.

Concurrent requests for a map being read or built wait for that one reading
or build rather than starting their own.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.responses import Response

from onsale.errors import ValidationFailed
from onsale.events.policy import Event, EventSpec
from onsale.http import render_json
from onsale.inventory.policy import parse_seat_id

# How long one reading of the seat states serves a process. The map changes
# during a sale (every hold, release, sale and expiry), so its age is kept
# short: 1 s is half the fan page's own refresh period (2 s), under what a
# person notices, and the page itself shows its own hold as "mine" and the
# seats a refused hold named as taken at once (seatmap.js). With it, 1,000
# anonymous requests a second cost one Redis read and one encoding a second
# per process and event.
CACHE_SECONDS = 1.0
# On a 40,000-seat map (3.1 MB): level 1 gives 250 KB in 28 ms, 5 gives
# 223 KB in 32 ms, 6 gives 222 KB in 60 ms, 9 takes 660 ms.
GZIP_LEVEL = 5
JSON_TYPE = "application/json"


class SeatStates(Protocol):
    """What the map needs of the inventory store."""

    async def seat_states(self, event_id: str) -> dict[str, str]: ...


@dataclass(frozen=True)
class Body:
    """A map as sent: JSON, gzipped JSON, and the weak ETag of its content."""

    raw: bytes
    gzipped: bytes
    etag: str


def seats_json(event: Event, states: Mapping[str, str], section: str | None) -> dict[str, Any]:
    """The map of API.md: every seat of the seated sections (of ``section``
    only, if given), in the order of the event's definition."""
    seats = []
    for s in event.spec.sections:
        if section is not None and s.code != section:
            continue
        for row in s.rows:
            for n in range(1, row.seats + 1):
                seat_id = f"{s.code}-{row.row}-{n}"
                seats.append(
                    {
                        "id": seat_id,
                        "section": s.code,
                        "row": row.row,
                        "number": n,
                        "state": states.get(seat_id, "free"),
                    }
                )
    return {"event_id": event.id, "seats": seats}


def section_of(event: Event, value: str | None) -> str | None:
    """The ``section`` query parameter (an extension of API.md: the fan page
    may ask only for the section it shows): None for the whole map, else a
    seated section of ``event``. Raises ValidationFailed."""
    if value is None:
        return None
    if not any(s.code == value and s.kind == "seated" for s in event.spec.sections):
        raise ValidationFailed(
            "No seated section of this code", fields={"section": "a seated section's code"}
        )
    return value


@dataclass(frozen=True)
class Template:
    """The unchanging part of a map: each seat's JSON up to its state. Made
    once per event definition; a map is then a join of these and the states
    (15 ms for 40,000 seats, where building the dicts and encoding them
    takes 160 ms)."""

    spec: EventSpec
    head: str
    ids: tuple[str, ...]
    seats: tuple[str, ...]  # '{"id":...,"number":1,"state":"'

    @classmethod
    def of(cls, event: Event, section: str | None) -> Template:
        empty = seats_json(event, {}, section)
        seats = empty.pop("seats")
        parts = [render_json(s).decode().removesuffix('"free"}') + '"' for s in seats]
        head = render_json(empty).decode().removesuffix("}") + ',"seats":['
        return cls(event.spec, head, tuple(s["id"] for s in seats), tuple(parts))


def build(
    event: Event,
    states: Mapping[str, str],
    section: str | None,
    template: Template | None = None,
) -> Body:
    """The map as sent: the same bytes as ``render_json(seats_json(...))``."""
    t = template or Template.of(event, section)
    get = states.get
    # A state is "free", "held" or "sold" (InventoryStore.seat_states): no
    # character of it needs escaping.
    seats = ",".join([f'{part}{get(i, "free")}"}}' for part, i in zip(t.seats, t.ids, strict=True)])
    raw = f"{t.head}{seats}]}}".encode()
    etag = 'W/"' + hashlib.blake2b(raw, digest_size=12).hexdigest() + '"'
    return Body(raw, gzip.compress(raw, GZIP_LEVEL, mtime=0), etag)


@dataclass
class _Reading:
    """One read of an event's seat states and the maps built from it."""

    states: dict[str, str]
    at: float
    bodies: dict[str | None, asyncio.Future[Body]] = field(default_factory=dict)
    free: dict[str, int] | None = None  # free seats by section


def _shared(task: asyncio.Future[Any]) -> asyncio.Future[Any]:
    # Its error is read by every waiter; if all of them went away, it is read
    # here, so that asyncio does not log "exception was never retrieved".
    task.add_done_callback(lambda f: f.cancelled() or f.exception())
    return task


class SeatMapCache:
    """Seat maps of a process, each reading of the states serving ``seconds``."""

    def __init__(
        self,
        store: SeatStates,
        *,
        seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        # Never negative (nor NaN), never so long that a sale's map stands still.
        self._seconds = min(seconds, 60.0) if seconds > 0 else 0.0
        self._clock = clock
        self._readings: dict[str, _Reading] = {}
        self._reads: dict[str, asyncio.Future[_Reading]] = {}
        self._templates: dict[tuple[str, str | None], Template] = {}

    @property
    def max_age(self) -> int:
        """The ``max-age`` a client and a shared cache may keep a map for."""
        return max(int(self._seconds), 0)

    async def body(self, event: Event, section: str | None = None) -> Body:
        """The map of ``event`` (of ``section`` only, if given)."""
        reading = await self._reading(event.id)
        built = reading.bodies.get(section)
        if built is None:
            built = _shared(asyncio.ensure_future(self._build(event, reading, section)))
            reading.bodies[section] = built
        return await asyncio.shield(built)

    async def free_by_section(self, event_id: str) -> dict[str, int]:
        """Free seats by section, from the same reading as the maps: the
        public event info (GET /api/events/{id}), which the fan page asks
        for with every map, does not read the 40,000 seats again."""
        reading = await self._reading(event_id)
        if reading.free is None:
            free: dict[str, int] = {}
            for seat, state in reading.states.items():
                if state == "free":
                    parsed = parse_seat_id(seat)
                    if parsed:
                        free[parsed[0]] = free.get(parsed[0], 0) + 1
            reading.free = free
        return reading.free

    async def _build(self, event: Event, reading: _Reading, section: str | None) -> Body:
        # In threads: 40,000 seats take tens of milliseconds that the event
        # loop (holds, the queue's websockets) keeps serving meanwhile.
        key = (event.id, section)
        template = self._templates.get(key)
        if template is None or template.spec != event.spec:  # new, or the event changed
            template = await asyncio.to_thread(Template.of, event, section)
            self._templates[key] = template
        return await asyncio.to_thread(build, event, reading.states, section, template)

    async def _reading(self, event_id: str) -> _Reading:
        reading = self._readings.get(event_id)
        if reading is not None and self._clock() - reading.at < self._seconds:
            return reading
        read = self._reads.get(event_id)
        if read is None:
            read = _shared(asyncio.ensure_future(self._read(event_id)))
            self._reads[event_id] = read
            read.add_done_callback(lambda _: self._reads.pop(event_id, None))
        return await asyncio.shield(read)

    async def _read(self, event_id: str) -> _Reading:
        at = self._clock()  # its age counts from before the read
        states = await self._store.seat_states(event_id)
        # Readings past their time serve nobody: dropped, so that the events
        # of past sales do not stay in memory.
        now = self._clock()
        stale = {e for e, r in self._readings.items() if now - r.at >= self._seconds}
        for event in stale:
            del self._readings[event]
        # Templates of events nobody asked about for a window go too: an
        # event's next request makes its template again (10 ms).
        for key in [k for k in self._templates if k[0] in stale and k[0] != event_id]:
            del self._templates[key]
        reading = _Reading(states, at)
        self._readings[event_id] = reading
        return reading


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True if an ``Accept-Encoding`` header accepts gzip (``gzip`` or ``*``
    without ``q=0``)."""
    if not accept_encoding:
        return False
    weights: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[coding.strip()] = weight
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """True if ``If-None-Match`` names ``etag`` (weak comparison) or is ``*``."""
    if not if_none_match:
        return False
    tag = etag.removeprefix("W/")
    for given in if_none_match.split(","):
        given = given.strip()
        if given == "*" or given.removeprefix("W/") == tag:
            return True
    return False


def response(body: Body, headers: Mapping[str, str], max_age: int) -> Response:
    """The answer to a request with ``headers``: 304, gzipped or plain JSON."""
    common = {
        "Cache-Control": f"public, max-age={max_age}",
        "ETag": body.etag,
        "Vary": "Accept-Encoding",
    }
    if not_modified(headers.get("if-none-match"), body.etag):
        return Response(status_code=304, headers=common)
    if accepts_gzip(headers.get("accept-encoding")):
        return Response(
            body.gzipped, media_type=JSON_TYPE, headers={**common, "Content-Encoding": "gzip"}
        )
    return Response(body.raw, media_type=JSON_TYPE, headers=common)
