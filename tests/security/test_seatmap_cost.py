"""Issue 10, item 10e: the seat map of a 40,000-seat event costs one Redis read
and one encoding a second per process, is gzipped for the clients that accept
it, answers 304 to a client that has it, and keeps the shape of API.md."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from typing import Any

import httpx
import pytest

from onsale.inventory.store import InventoryStore
from onsale.runtime import Runtime
from tests.conftest import auth, event_body

ROWS = 100
SEATS_PER_ROW = 200  # 100 x 200 = 20,000 seats, the most a seated section takes
SEATS = 2 * ROWS * SEATS_PER_ROW
SEAT_KEYS = {"id", "section", "row", "number", "state"}
PLAIN = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip, deflate"}


class RecordingStore:
    """The inventory store, with the seat state reads it served recorded."""

    def __init__(self, store: InventoryStore) -> None:
        self.store = store
        self.reads: list[str] = []

    async def seat_states(self, event_id: str) -> dict[str, str]:
        self.reads.append(event_id)
        return await self.store.seat_states(event_id)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _big_event() -> dict[str, Any]:
    body = event_body(ga=0, rows={})
    rows = [{"row": f"R{i}", "seats": SEATS_PER_ROW} for i in range(1, ROWS + 1)]
    body["sections"] = [
        {"code": code, "kind": "seated", "category": "STD", "rows": rows}
        for code in ("LEFT", "RIGHT")
    ]
    return body


@pytest.fixture
async def big_event(client: httpx.AsyncClient, venue: dict[str, str]) -> str:
    r = await client.post("/api/admin/events", json=_big_event(), headers=auth(venue["api_key"]))
    assert r.status_code == 201, r.text
    event_id: str = r.json()["id"]
    return event_id


def _recording(runtime: Runtime, seconds: float) -> tuple[RecordingStore, Clock]:
    """The app's seat maps served from a recording store, on a test clock."""
    from onsale.inventory.seatmap import SeatMapCache

    recording, clock = RecordingStore(runtime.inventory.store), Clock()
    runtime.inventory.seat_maps = SeatMapCache(recording, seconds=seconds, clock=clock)
    return recording, clock


async def _hold_one(client: httpx.AsyncClient, event_id: str, seat: str, access: str) -> None:
    r = await client.post(
        f"/api/events/{event_id}/holds", json={"seats": [seat]}, headers=auth(access)
    )
    assert r.status_code == 201, r.text


def _states(body: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["state"] for s in body["seats"]}


async def test_the_map_is_gzipped_for_a_client_that_accepts_it(
    client: httpx.AsyncClient, big_event: str
) -> None:
    """The old endpoint sent the 2.9 MB of JSON to everyone, with no
    Content-Encoding (the assertion on "content-encoding" failed: KeyError)."""
    path = f"/api/events/{big_event}/seats"
    plain = await client.get(path, headers=PLAIN)
    zipped = await client.get(path, headers=GZIP)
    assert plain.status_code == zipped.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert zipped.headers["vary"] == "Accept-Encoding"
    raw_size = int(plain.headers["content-length"])
    gzip_size = int(zipped.headers["content-length"])
    assert raw_size > 2_500_000  # 40,000 seats
    assert gzip_size * 10 < raw_size, (raw_size, gzip_size)
    assert zipped.json() == plain.json()  # httpx unzipped it: the same map
    # q=0 refuses gzip: plain JSON again
    refused = await client.get(path, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers


async def test_the_shape_is_that_of_api_md(client: httpx.AsyncClient, big_event: str) -> None:
    """Unchanged: {"event_id", "seats": [{"id", "section", "row", "number",
    "state"}]}, every seat of the seated sections in their order."""
    r = await client.get(f"/api/events/{big_event}/seats")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"event_id", "seats"} and body["event_id"] == big_event
    seats = body["seats"]
    assert len(seats) == SEATS and all(set(s) == SEAT_KEYS for s in seats)
    assert seats[0] == {
        "id": "LEFT-R1-1",
        "section": "LEFT",
        "row": "R1",
        "number": 1,
        "state": "free",
    }
    assert seats[-1]["id"] == f"RIGHT-R{ROWS}-{SEATS_PER_ROW}"
    assert len({s["id"] for s in seats}) == SEATS


async def test_one_section_only_on_request(client: httpx.AsyncClient, big_event: str) -> None:
    """An extension: ``?section=CODE`` sends that section's seats only (the
    old endpoint ignored the parameter and sent all 40,000)."""
    r = await client.get(f"/api/events/{big_event}/seats", params={"section": "RIGHT"})
    assert r.status_code == 200
    seats = r.json()["seats"]
    assert len(seats) == SEATS // 2 and {s["section"] for s in seats} == {"RIGHT"}
    for bad in ("NOPE", "", "right"):
        r = await client.get(f"/api/events/{big_event}/seats", params={"section": bad})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "validation_error"


async def test_a_client_that_has_the_map_gets_304(
    client: httpx.AsyncClient, runtime: Runtime, big_event: str, admitted: Any
) -> None:
    """The old endpoint sent no ETag (KeyError on "etag") and the whole map
    again to a client that had it."""
    recording, clock = _recording(runtime, 1.0)
    path = f"/api/events/{big_event}/seats"
    first = await client.get(path, headers=GZIP)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, max-age=1"
    again = await client.get(path, headers={**GZIP, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["vary"] == "Accept-Encoding"
    # The same content has the same tag, gzipped or not.
    plain = await client.get(path, headers={**PLAIN, "If-None-Match": f'"x", {etag}'})
    assert plain.status_code == 304
    # A seat changes: past the cache window, a new tag and the new map.
    await _hold_one(client, big_event, "LEFT-R1-1", await admitted(big_event))
    clock.now += 1.0
    changed = await client.get(path, headers={**GZIP, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert _states(changed.json())["LEFT-R1-1"] == "held"
    assert len(recording.reads) == 2


async def test_requests_within_the_window_share_one_redis_read(
    client: httpx.AsyncClient, runtime: Runtime, big_event: str, admitted: Any
) -> None:
    """Each request of the old endpoint read the 40,000 seats from Redis
    (HGETALL) and encoded them: here, with the window off (seconds=0, the old
    behaviour), 20 requests make 20 reads; with a 1 s window, 20 requests
    (concurrent ones too) make one, and the next second one more."""
    path = f"/api/events/{big_event}/seats"
    recording, clock = _recording(runtime, 0)
    for _ in range(20):
        assert (await client.get(path)).status_code == 200
    assert len(recording.reads) == 20

    recording, clock = _recording(runtime, 1.0)
    answers = await asyncio.gather(*(client.get(path, headers=GZIP) for _ in range(10)))
    answers += [await client.get(path, headers=GZIP) for _ in range(10)]
    assert all(a.status_code == 200 for a in answers)
    assert len({a.headers["etag"] for a in answers}) == 1
    assert recording.reads == [big_event]
    section = await client.get(path, params={"section": "LEFT"})  # from the same reading
    assert section.status_code == 200 and recording.reads == [big_event]

    # A hold inside the window shows once the window is over: the map is at
    # most a second old (the fan page shows its own hold at once: seatmap.js).
    await _hold_one(client, big_event, "RIGHT-R2-5", await admitted(big_event))
    clock.now += 0.5
    assert _states((await client.get(path)).json())["RIGHT-R2-5"] == "free"
    clock.now += 0.75
    assert _states((await client.get(path)).json())["RIGHT-R2-5"] == "held"
    assert len(recording.reads) == 2


async def test_the_event_info_shares_the_reading(
    client: httpx.AsyncClient, runtime: Runtime, big_event: str
) -> None:
    """GET /api/events/{id}, which the fan page asks for with every map,
    counted the free seats of each section from its own HGETALL of the 40,000
    seats at every request (here: the window off, one read per request); it
    now counts them from the map's reading."""
    info, seats = f"/api/events/{big_event}", f"/api/events/{big_event}/seats"
    recording, _ = _recording(runtime, 0)
    for _ in range(3):
        assert (await client.get(info)).status_code == 200
    assert len(recording.reads) == 3

    recording, _ = _recording(runtime, 1.0)
    answers = [await client.get(path) for path in (info, seats, info, seats)]
    assert all(a.status_code == 200 for a in answers)
    assert recording.reads == [big_event]
    available = {s["code"]: s["available"] for s in answers[0].json()["sections"]}
    assert available == {"LEFT": SEATS // 2, "RIGHT": SEATS // 2}


async def test_the_fast_build_makes_the_same_bytes(
    client: httpx.AsyncClient, runtime: Runtime, big_event: str, admitted: Any
) -> None:
    """The map joined from a template is, byte for byte, the JSON of API.md as
    the old endpoint encoded it (``render_json`` of the list of seats)."""
    from onsale.http import render_json
    from onsale.inventory import seatmap

    await _hold_one(client, big_event, "LEFT-R3-7", await admitted(big_event))
    event = await runtime.events.get(big_event)
    states = await runtime.inventory.store.seat_states(big_event)
    states["RIGHT-R100-200"] = "sold"
    for section in (None, "LEFT", "RIGHT"):
        template = seatmap.Template.of(event, section)
        body = seatmap.build(event, states, section, template)
        assert body.raw == render_json(seatmap.seats_json(event, states, section))
        assert gzip.decompress(body.gzipped) == body.raw


async def test_cost_before_and_after(
    client: httpx.AsyncClient, runtime: Runtime, big_event: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The figures of the change (printed; run with -s to see them): bytes on
    the wire and the time of a request, built at every request as the old
    endpoint did (the dicts and their JSON) and from the cache."""
    from onsale.http import render_json
    from onsale.inventory import seatmap

    def ms(since: float, n: int = 1) -> float:
        return round((time.perf_counter() - since) * 1000 / n, 1)

    path = f"/api/events/{big_event}/seats"
    event = await runtime.events.get(big_event)
    started = time.perf_counter()
    states = await runtime.inventory.store.seat_states(big_event)
    read_ms = ms(started)
    started = time.perf_counter()
    old_raw = render_json(seatmap.seats_json(event, states, None))
    old_encode_ms = ms(started)
    started = time.perf_counter()
    template = seatmap.Template.of(event, None)
    template_ms = ms(started)
    started = time.perf_counter()
    body = seatmap.build(event, states, None, template)
    build_ms = ms(started)
    started = time.perf_counter()
    gzip.compress(body.raw, seatmap.GZIP_LEVEL, mtime=0)
    gzip_ms = ms(started)
    assert body.raw == old_raw

    _recording(runtime, 0)
    await client.get(path, headers=PLAIN)  # the template is made once
    started = time.perf_counter()
    for _ in range(5):
        await client.get(path, headers=PLAIN)
    uncached_ms = ms(started, 5)

    _recording(runtime, 1.0)
    await client.get(path, headers=GZIP)
    started = time.perf_counter()
    for _ in range(20):
        cached = await client.get(path, headers=GZIP)
    cached_ms = ms(started, 20)
    figures = {
        "seats": SEATS,
        "raw_bytes": len(body.raw),
        "gzip_bytes": len(body.gzipped),
        "redis_read_ms": read_ms,
        "old_dicts_and_json_ms": old_encode_ms,
        "template_once_ms": template_ms,
        "build_with_gzip_and_etag_ms": build_ms,
        "of_which_gzip_ms": gzip_ms,
        "request_read_and_built_every_time_ms": uncached_ms,
        "request_from_the_cache_ms": cached_ms,
    }
    with capsys.disabled():
        print("\nseat map of a 40,000-seat event:", json.dumps(figures))
    assert int(cached.headers["content-length"]) == len(body.gzipped)
    assert cached_ms < uncached_ms / 2  # loose: the machine may be busy
