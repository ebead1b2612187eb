"""Issue 11, "No fan waits behind an empty seat": the measured scenario, with
the default settings apart from the sale's size: 60 general-admission
places, at most 60 shoppers, the 600 s session, the default shopper grace
(20 s), 300 fans; 60 % of the admitted fans leave without a word after a
look at the page, the others buy one place each after a few seconds.

Time is driven, not waited for: each step moves every stored time of the
event back by a second (``clock.pass_time``) and runs one admission step, so
the sale's minutes take seconds. A smaller crowd with a 5 s grace runs the
same on Redis' own clock (the last test, ~35 s). A stall is a span with places free, fans
waiting and nobody admitted (``policy.longest_stall``, from one sample a
second).

Before (the negative control, ``shopper_presence=False``, the old cap): 24
places sold, then 36 places free behind 36 shoppers who had left, with 240
fans waiting and nobody admitted until their sessions end (ten minutes).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

import httpx
import pytest

from onsale.queue.policy import StallSample, longest_stall
from onsale.queue.service import QueueService
from onsale.queue.store import QueueStore
from onsale.runtime import Runtime
from tests.conftest import MakeEvent, auth, event_body
from tests.integration.api_helpers import join
from tests.integration.clock import pass_time

PLACES = 60
FANS = 300
BOUND_SECONDS = 30.0
THINK_SECONDS = 5  # a buyer holds this long after admission
BEAT_SECONDS = 5  # the page's presence heartbeat
CARD = {"provider": "test", "card_number": "4242424242424242"}


@dataclass
class Fan:
    token: str
    entry: str
    number: int
    access: str = ""
    admitted_at: int = -1
    leaves: bool = False
    bought: bool = False


@dataclass
class Run:
    samples: list[StallSample] = field(default_factory=list)
    sold: int = 0
    seconds: int = 0
    server_longest_ms: int = 0
    server_stall_ms: int = 0
    parked: int = 0


class Sale:
    """The scenario against one event; admission through ``queue``. Each step
    is a second: moved (``real_time=False``) or waited for."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        runtime: Runtime,
        queue: QueueService,
        *,
        places: int = PLACES,
        fans: int = FANS,
        think: int = THINK_SECONDS,
        real_time: bool = False,
    ) -> None:
        self.client = client
        self.runtime = runtime
        self.queue = queue
        self.places, self.crowd, self.think, self.real_time = places, fans, think, real_time
        self.fans: dict[int, Fan] = {}
        self.admitted = 0

    async def beat(self, event_id: str, fan: Fan) -> None:
        r = await self.client.post(f"/api/events/{event_id}/presence", headers=auth(fan.access))
        assert r.status_code == 204, r.text

    async def on_admitted(self, event_id: str, fan: Fan, t: int) -> None:
        r = await self.client.get(f"/api/events/{event_id}/queue/status", headers=auth(fan.token))
        assert r.json()["state"] == "admitted", r.text
        fan.access, fan.admitted_at = r.json()["access_token"], t
        fan.leaves = self.admitted % 5 < 3  # three in five close the tab
        self.admitted += 1
        await self.beat(event_id, fan)  # the seat map is on their screen

    async def buy(self, event_id: str, fan: Fan) -> None:
        r = await self.client.post(
            f"/api/events/{event_id}/holds",
            json={"section": "FLOOR", "quantity": 1},
            headers=auth(fan.access),
        )
        assert r.status_code == 201, r.text
        r = await self.client.post(
            f"/api/holds/{r.json()['hold_id']}/checkout",
            json={
                "buyer": {"email": f"fan{fan.number}@example.org", "name": "Camille"},
                "payment": CARD,
            },
            headers={**auth(fan.access), "Idempotency-Key": str(uuid.uuid4())},
        )
        assert r.status_code == 201, r.text
        fan.bought = True

    async def shoppers(self, event_id: str, t: int) -> None:
        for fan in self.fans.values():
            if fan.admitted_at < 0 or fan.leaves or fan.bought:
                continue
            if t - fan.admitted_at >= self.think:
                await self.buy(event_id, fan)
            elif (t - fan.admitted_at) % BEAT_SECONDS == 0:
                await self.beat(event_id, fan)

    async def run(self, event_id: str, *, limit: int, cut_after: float | None = None) -> Run:
        event = await self.runtime.events.get(event_id)
        keys = self.queue.store.keys(event_id)
        await self.queue.admit(event)  # the draw; admission's clock starts
        for _ in range(self.crowd):
            body = await join(self.client, event_id)
            self.fans[body["number"]] = Fan(body["queue_token"], body["entry_id"], body["number"])
        run, serving = Run(), 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        for t in range(1, limit + 1):
            if self.real_time:
                await asyncio.sleep(max(start + t - loop.time(), 0))
            else:
                await pass_time(self.runtime.redis, keys, 1000)
            if t % 5 == 0:  # the waiting fans' sockets: presence every 5 s
                waiting = [f.entry for n, f in self.fans.items() if n > serving]
                await self.queue.store.snapshot(event_id, waiting)
            result = await self.queue.admit(event)
            for number in range(serving + 1, result.serving + 1):
                await self.on_admitted(event_id, self.fans[number], t)
            serving = result.serving
            await self.shoppers(event_id, t)
            counts = await self.runtime.inventory.store.counts(event_id)
            run.samples.append(
                StallSample(t, counts.available, result.next - result.serving, self.admitted)
            )
            run.sold, run.seconds = counts.sold, t
            run.parked += result.parked
            if counts.sold >= self.places:
                break
            if cut_after is not None and longest_stall(run.samples) > cut_after:
                break
        raw = await self.runtime.redis.hmget(keys.queue, ["stall_longest_ms", "stall_ms"])
        run.server_longest_ms, run.server_stall_ms = (int(v or 0) for v in raw)
        return run


def _queue(runtime: Runtime, *, presence: bool) -> QueueService:
    store = QueueStore(runtime.redis, runtime.settings.redis_prefix, shopper_presence=presence)
    return QueueService(
        store,
        runtime.events,
        runtime.signer,
        engine=runtime.engine,
        recovery=runtime.recovery,
        reclaim=runtime.inventory.store.reclaim,
    )


async def _event(make_event: MakeEvent) -> str:
    # The defaults but the sale's size (conftest's event_body sets a faster rate).
    event = await make_event(ga=PLACES, rows={}, rate=600, max_active=60, hold_seconds=480)
    assert event["admission"]["session_seconds"] == 600
    assert event["admission"]["shopper_grace_seconds"] == 20
    event_id: str = event["id"]
    return event_id


async def test_leavers_free_their_places_and_the_sale_sells_out_without_a_long_stall(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    event_id = await _event(make_event)
    sale = Sale(client, runtime, _queue(runtime, presence=True))
    run = await sale.run(event_id, limit=900)

    assert run.sold == PLACES, run
    longest = longest_stall(run.samples)
    assert longest <= BOUND_SECONDS, longest
    assert run.parked > 0
    # Admission's own accounting agrees with what the samples show.
    assert abs(run.server_longest_ms / 1000 - longest) <= 2.5, (run.server_longest_ms, longest)
    assert sum(1 for f in sale.fans.values() if f.bought) == PLACES
    # Everyone still waiting is told it is over.
    for fan in list(sale.fans.values())[-5:]:
        r = await client.get(f"/api/events/{event_id}/queue/status", headers=auth(fan.token))
        assert r.json() == {"state": "closed", "position": None, "reason": "sold_out"}, r.text


async def test_without_shopper_presence_the_queue_stalls_behind_empty_seats(
    client: httpx.AsyncClient, runtime: Runtime, make_event: MakeEvent
) -> None:
    """The old cap: admitted shoppers who left keep their slots and count as
    buyers of the stock until their sessions end."""
    event_id = await _event(make_event)
    sale = Sale(client, runtime, _queue(runtime, presence=False))
    run = await sale.run(event_id, limit=300, cut_after=BOUND_SECONDS)

    assert longest_stall(run.samples) > BOUND_SECONDS
    assert run.sold == 24 and run.samples[-1].free == 36, run.samples[-1]
    assert run.samples[-1].waiting == FANS - 60
    assert run.server_longest_ms > BOUND_SECONDS * 1000


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_in_real_time_with_a_short_grace_the_sale_sells_out(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str]
) -> None:
    """The same crowd, smaller, on Redis' own clock (nothing moved): a 5 s
    shopper grace (the least allowed), 10 places, 50 fans."""
    body = event_body(ga=10, rows={}, rate=600, max_active=10, hold_seconds=480)
    body["admission"]["shopper_grace_seconds"] = 5
    r = await client.post("/api/admin/events", json=body, headers=auth(venue["api_key"]))
    assert r.status_code == 201, r.text
    event_id = r.json()["id"]
    queue = _queue(runtime, presence=True)
    sale = Sale(client, runtime, queue, places=10, fans=50, think=2, real_time=True)
    run = await sale.run(event_id, limit=75)

    assert run.sold == 10, run
    assert run.parked > 0
    # A wave of leavers holds the queue for about the grace (and a step).
    assert longest_stall(run.samples) <= 5 + 2, run.samples
