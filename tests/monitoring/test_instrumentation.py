"""Each instrumented place counts exactly what happened: holds, checkouts and
payment calls by outcome, Lua scripts, Postgres operations, admission runs,
reconciler repairs, websocket connections; and every label stays bounded."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from onsale import faults, recovery
from onsale.checkout import reconciler
from onsale.monitoring import metrics
from onsale.queue.fanout import Fan
from onsale.runtime import Runtime
from tests.conftest import Admit, MakeEvent, auth
from tests.monitoring.metrics_util import Delta, value

CARD = {"provider": "test", "card_number": "4242424242424242"}
DECLINED = {"provider": "test", "card_number": "4000000000000002"}
BUYER = {"email": "fan@example.org", "name": "Camille"}
ALLOWED_LABELS = {"route", "method", "status", "code", "outcome", "provider", "op", "script"}
ALLOWED_LABELS |= {"operation", "kind", "le"}
# The door's scans per event (events are few and known) and gate (a venue's
# door names, 1-32 characters checked by tickets.door.GATE_RE; only door
# staff can send one).
ALLOWED_LABELS |= {"event_id", "gate", "result"}


async def _hold(client: httpx.AsyncClient, event_id: str, access: str, seats: list[str]) -> int:
    r = await client.post(
        f"/api/events/{event_id}/holds", headers=auth(access), json={"seats": seats}
    )
    return r.status_code


async def test_holds_by_outcome_and_their_lua_script(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    first, second = await admitted(event["id"]), await admitted(event["id"])
    d = Delta()
    assert await _hold(client, event["id"], first, ["BALC-A-1"]) == 201
    assert await _hold(client, event["id"], second, ["BALC-A-1"]) == 409
    assert await _hold(client, event["id"], second, ["ZZZ-9-9"]) == 422
    h = "onsale_inventory_hold_duration_seconds_count"
    assert d.of(h, outcome="ok") == 1
    assert d.of(h, outcome="seats_unavailable") == 1
    assert d.of(h, outcome="validation_error") == 1
    # the invalid request never reached Redis
    assert d.of("onsale_redis_script_duration_seconds_count", script="hold") == 2


async def test_checkouts_and_payment_calls_by_outcome(
    client: httpx.AsyncClient, make_event: MakeEvent, admitted: Admit
) -> None:
    event = await make_event()
    access = await admitted(event["id"])
    r = await client.post(
        f"/api/events/{event['id']}/holds", headers=auth(access), json={"seats": ["BALC-A-1"]}
    )
    hold_id = r.json()["hold_id"]
    url = f"/api/holds/{hold_id}/checkout"
    declined_key = str(uuid.uuid4())
    d = Delta()
    for _ in range(2):  # the second is the stored answer: no new payment call
        r = await client.post(
            url,
            json={"buyer": BUYER, "payment": DECLINED},
            headers={**auth(access), "Idempotency-Key": declined_key},
        )
        assert r.status_code == 402
    r = await client.post(
        url,
        json={"buyer": BUYER, "payment": CARD},
        headers={**auth(access), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201
    c = "onsale_checkout_duration_seconds_count"
    assert d.of(c, outcome="payment_declined") == 2
    assert d.of(c, outcome="ok") == 1
    p = "onsale_payment_call_duration_seconds_count"
    assert d.of(p, provider="test", op="authorize") == 2
    assert d.of(p, provider="test", op="capture") == 1
    assert d.of(p, provider="test", op="void") == 0
    pg = "onsale_postgres_operation_duration_seconds_count"
    assert d.of(pg, operation="write_order") == 1
    # The stored decline is found by a read (idem_peek), before any claim.
    assert d.of(pg, operation="idem_peek") == 3
    assert d.of(pg, operation="idem_begin") == 2
    assert d.of("onsale_redis_script_duration_seconds_count", script="commit_sold") == 1


async def test_a_checkout_that_crashes_counts_as_internal_error(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    created = await make_event()
    event = await runtime.events.get(created["id"])
    expires = int(time.time() * 1000) + 600_000
    await runtime.redis.zadd(runtime.inventory.store.keys(event.id).active, {"q_fan": expires})
    hold = await runtime.inventory.hold(event, "q_fan", {"seats": ["BALC-A-1"]})
    d = Delta()
    runtime.checkout.faults.arm(faults.AFTER_ORDER_COMMIT)
    try:
        with pytest.raises(faults.InjectedCrash):
            await runtime.checkout.checkout(
                event, hold.hold_id, "q_fan", str(uuid.uuid4()), {"buyer": BUYER, "payment": CARD}
            )
    finally:
        runtime.checkout.faults.disarm(faults.AFTER_ORDER_COMMIT)
    assert d.of("onsale_checkout_duration_seconds_count", outcome="internal_error") == 1


async def test_reconciler_repairs_are_counted_by_kind(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await runtime.events.get((await make_event())["id"])
    await runtime.inventory.store.drop(event.id)  # Redis lost the event
    d = Delta()
    repairs = await runtime.reconciler.run_once([event])
    assert repairs.counts["inventory_rebuilt"] == 1
    for kind in metrics.REPAIR_KINDS:
        assert d.of("onsale_reconciler_repairs_total", kind=kind) == repairs.counts[kind]


async def test_admission_runs_are_counted(runtime: Runtime, make_event: MakeEvent) -> None:
    event = await runtime.events.get((await make_event())["id"])
    d = Delta()
    for _ in range(3):
        await runtime.queue.admit(event)
    assert d.of("onsale_queue_admission_runs_total") == 3
    assert d.of("onsale_redis_script_duration_seconds_count", script="admit") == 3


async def test_websocket_connections_gauge_follows_the_registry(
    runtime: Runtime, make_event: MakeEvent
) -> None:
    event = await runtime.events.get((await make_event())["id"])
    fanout = runtime.fanout

    async def send(message: str) -> None:
        await asyncio.sleep(0)

    fans = [Fan(f"q_{i}", i + 1, send) for i in range(3)]
    for fan in fans:
        fanout.add(event, fan)
    assert value("onsale_ws_connections") == 3
    fanout.remove(event.id, fans[0])
    assert value("onsale_ws_connections") == 2
    for fan in fans[1:]:
        fanout.remove(event.id, fan)
    assert value("onsale_ws_connections") == 0


def test_every_repair_kind_the_reconciler_makes_is_declared() -> None:
    # The reconciler's own repairs and those of the per-event pass it runs.
    source = Path(reconciler.__file__).read_text() + Path(recovery.__file__).read_text()
    kinds = set(re.findall(r'repairs\.add\(\s*"([a-z_]+)"', source))
    assert kinds and kinds == set(metrics.REPAIR_KINDS)


def test_names_units_and_labels() -> None:
    seen = 0
    for family in REGISTRY.collect():
        if not family.name.startswith("onsale_"):
            continue
        seen += 1
        assert re.fullmatch(r"onsale_[a-z]+_[a-z_]+", family.name), family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        for sample in family.samples:
            assert set(sample.labels) <= ALLOWED_LABELS, (family.name, sample.labels)
    assert seen >= 15


def test_error_code_labels_are_the_codes_of_errors_py() -> None:
    codes = metrics.error_codes()
    assert {"seats_unavailable", "payment_declined", "unavailable", "internal_error"} <= set(codes)
    assert all(re.fullmatch(r"[a-z_]+", c) for c in codes)
