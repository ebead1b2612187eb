"""`onsale demo --crowd N`: simulated fans buying the demo event, in-process,
over the real HTTP and websocket API, with a live progress display, ending
with the invariant check.

Each fan joins (in the pre-queue if early), waits on the websocket until
admitted, holds (best available, a GA quantity or chosen seats) and pays; a
share pays with a declined card first, a share leaves the queue or a hold.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
WAIT_LIMIT_SECONDS = 600.0


@dataclass
class Tally:
    """What the crowd is doing now, and what happened to it."""

    states: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    def move(self, old: str | None, new: str | None) -> None:
        if old:
            self.states[old] -= 1
        if new:
            self.states[new] += 1


@dataclass
class Crowd:
    base: str  # http://host:port
    event_id: str
    tally: Tally = field(default_factory=Tally)
    rng: random.Random = field(default_factory=random.Random)

    async def fan(self, client: httpx.AsyncClient, n: int) -> None:
        self.tally.move(None, "joining")
        state = "joining"
        try:
            r = await client.post(f"/api/events/{self.event_id}/queue")
            if r.status_code not in (200, 201):
                self.tally.outcomes[r.json()["error"]["code"]] += 1
                return
            self.tally.move(state, state := "waiting")
            queue_token = r.json()["queue_token"]
            access = await self._wait(queue_token)
            if access is None:
                return
            self.tally.move(state, state := "admitted")
            hold = await self._hold(client, access)
            if hold is None:  # the page says so, and the fan leaves: the slot frees
                await client.delete(
                    f"/api/events/{self.event_id}/queue",
                    headers={"Authorization": f"Bearer {queue_token}"},
                )
                return
            self.tally.move(state, state := "holding")
            if self.rng.random() < 0.05:
                self.tally.outcomes["left a hold"] += 1
                return
            await self._pay(client, access, hold, n)
        except (httpx.HTTPError, WebSocketException, OSError, TimeoutError) as exc:
            self.tally.outcomes[f"error: {type(exc).__name__}"] += 1
        finally:
            self.tally.move(state, None)

    async def _wait(self, token: str) -> str | None:
        ws_base = self.base.replace("http://", "ws://")
        url = f"{ws_base}/ws/events/{self.event_id}/queue?token={token}"
        async with asyncio.timeout(WAIT_LIMIT_SECONDS), connect(url, compression=None) as ws:
            async for raw in ws:
                message: dict[str, Any] = json.loads(raw)
                if message["type"] == "admitted":
                    return str(message["access_token"])
                if message["type"] == "closed":
                    self.tally.outcomes[f"closed: {message.get('reason')}"] += 1
                    return None
        return None

    def _choice(self) -> dict[str, Any]:
        roll = self.rng.random()
        if roll < 0.5:
            return {
                "section": "BALC",
                "quantity": self.rng.choice((1, 2, 2, 3)),
                "best_available": True,
            }
        return {"section": "FLOOR", "quantity": self.rng.choice((1, 2, 2, 4))}

    async def _hold(self, client: httpx.AsyncClient, access: str) -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {access}"}
        for _ in range(3):
            r = await client.post(
                f"/api/events/{self.event_id}/holds", json=self._choice(), headers=headers
            )
            if r.status_code == 201:
                hold: dict[str, Any] = r.json()
                return hold
        self.tally.outcomes["nothing left to hold"] += 1
        return None

    async def _pay(
        self, client: httpx.AsyncClient, access: str, hold: dict[str, Any], n: int
    ) -> None:
        headers = {"Authorization": f"Bearer {access}"}
        cards = [DECLINED_CARD, GOOD_CARD] if self.rng.random() < 0.1 else [GOOD_CARD]
        for card in cards:
            body = {
                "buyer": {"email": f"fan{n}@example.org", "name": f"Fan {n}"},
                "payment": {"provider": "test", "card_number": card},
            }
            r = await self._pay_once(client, headers, hold["hold_id"], body)
            if r.status_code in (200, 201):
                self.tally.outcomes["bought"] += 1
                return
            self.tally.outcomes[r.json()["error"]["code"]] += 1
        # Could not pay: give the places back now rather than at expiry.
        await client.delete(f"/api/holds/{hold['hold_id']}", headers=headers)

    async def _pay_once(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        hold_id: str,
        body: dict[str, Any],
    ) -> httpx.Response:
        """One checkout, retried with the same key while the server is busy."""
        key = {**headers, "Idempotency-Key": str(uuid.uuid4())}
        for _ in range(5):
            r = await client.post(f"/api/holds/{hold_id}/checkout", headers=key, json=body)
            busy = r.status_code == 503 or (
                r.status_code == 409 and r.json()["error"]["code"] == "checkout_in_progress"
            )
            if not busy:
                return r
            await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
        return r


def _table(tally: Tally, stats: dict[str, Any], fans: int) -> Table:
    table = Table(title="onsale demo crowd", show_header=False)
    queue = stats.get("queue", {})
    rows = [
        ("fans", f"{fans}"),
        ("waiting in the queue", f"{queue.get('waiting', 0)}"),
        ("admitted, choosing", f"{tally.states['admitted']}"),
        ("holding", f"{stats.get('held', 0)} places"),
        ("sold", f"{stats.get('sold', 0)} / {stats.get('capacity', 0)}"),
        ("orders", f"{stats.get('orders', 0)}"),
    ]
    rows += [(k, str(v)) for k, v in sorted(tally.outcomes.items())]
    for key, value in rows:
        table.add_row(key, value)
    return table


async def run(
    base: str, event_id: str, venue_key: str, fans: int, *, console: Console | None = None
) -> Tally:
    """Send ``fans`` simulated fans at the event and show their progress."""
    crowd = Crowd(base, event_id)
    limits = httpx.Limits(max_connections=200)
    admin = {"Authorization": f"Bearer {venue_key}"}
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        tasks = [asyncio.create_task(crowd.fan(client, n)) for n in range(fans)]
        stats: dict[str, Any] = {}
        with Live(_table(crowd.tally, stats, fans), console=console, refresh_per_second=4) as live:
            while not all(t.done() for t in tasks):
                await asyncio.sleep(0.5)
                stats = (
                    await client.get(f"/api/admin/events/{event_id}/stats", headers=admin)
                ).json()
                live.update(_table(crowd.tally, stats, fans))
        await asyncio.gather(*tasks, return_exceptions=True)
    return crowd.tally
