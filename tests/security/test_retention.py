"""Issue 15: nothing about a buyer outlives the retention the venue chose.
An event's ``retention_days`` (default 1095) after it, the retention job
anonymizes its buyers the way an erasure does; it is idempotent, resumable
after being stopped mid-way, and measured.

Old code: events had no retention (a ``retention_days`` field was ignored,
the event JSON had none) and nothing ever erased a buyer: their e-mail and
name stayed in ``orders`` for ever.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import sqlalchemy as sa

from onsale.admin.retention import RetentionJob
from onsale.runtime import Runtime
from onsale.schema import audit_log, events, orders
from tests.conftest import Admit, auth
from tests.integration.api_helpers import error_code
from tests.monitoring.metrics_util import Delta, value
from tests.security._staff import buy, new_event, new_venue
from tests.security.test_buyer_erasure import find_everywhere

NAME = "Retained Buyer"


async def _event_with_orders(
    client: httpx.AsyncClient, admitted: Admit, n: int, retention_days: int = 30
) -> tuple[dict[str, str], dict[str, object]]:
    venue = await new_venue(client)
    event = await new_event(client, venue["api_key"], retention_days=retention_days)
    assert event["retention_days"] == retention_days
    for i in range(n):
        await buy(client, admitted, event["id"], f"buyer{i}@example.org", NAME, quantity=1)
    return venue, event


def _after(event: dict[str, object], days: int) -> datetime:
    return datetime.fromisoformat(str(event["starts_at"]).replace("Z", "+00:00")) + timedelta(
        days=days
    )


async def _anonymized(runtime: Runtime, event_id: str) -> tuple[int, datetime | None]:
    async with runtime.engine.connect() as conn:
        done = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(orders)
                .where(orders.c.event_id == event_id, orders.c.anonymized_at.is_not(None))
            )
        ).scalar_one()
        marked = (
            await conn.execute(
                sa.select(events.c.buyers_anonymized_at).where(events.c.id == event_id)
            )
        ).scalar_one()
    return done, marked


async def test_the_job_runs_twice_without_harm(
    client: httpx.AsyncClient, runtime: Runtime, admitted: Admit
) -> None:
    venue, event = await _event_with_orders(client, admitted, 5)
    job = RetentionJob(runtime.engine, batch_size=2)
    stats_before = (
        await client.get(f"/api/admin/events/{event['id']}/stats", headers=auth(venue["api_key"]))
    ).json()
    # Not due yet: a day before the end of the retention nothing changes.
    assert (await job.run_once(_after(event, 29)))["anonymized"] == 0
    assert await find_everywhere(runtime.engine, NAME) == {"orders.buyer_name": 5}
    delta = Delta()
    first = await job.run_once(_after(event, 31))
    assert first == {"anonymized": 5, "events_done": 1, "events_due": 1}
    done, marked = await _anonymized(runtime, str(event["id"]))
    assert done == 5 and marked is not None
    assert await find_everywhere(runtime.engine, NAME) == {}
    assert await find_everywhere(runtime.engine, "buyer0@example.org") == {}
    second = await job.run_once(_after(event, 32))
    assert second == {"anonymized": 0, "events_done": 0, "events_due": 0}
    assert await _anonymized(runtime, str(event["id"])) == (5, marked)
    stats_after = (
        await client.get(f"/api/admin/events/{event['id']}/stats", headers=auth(venue["api_key"]))
    ).json()
    assert stats_after == stats_before
    assert delta.of("onsale_buyers_anonymized_total", kind="retention") == 5
    assert value("onsale_retention_events_pending") == 0
    assert value("onsale_retention_last_run_timestamp_seconds") > 0
    async with runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(audit_log).where(audit_log.c.action == "retention.anonymize")
            )
        ).all()
    assert [(r.actor, r.target, r.details) for r in rows] == [
        ("system", event["id"], {"orders": 5})
    ]


async def test_the_job_resumes_after_being_stopped_mid_way(
    client: httpx.AsyncClient, runtime: Runtime, admitted: Admit
) -> None:
    """Stopped after one batch (as a deploy would stop it), the job leaves
    that batch done and the event unmarked; the next pass finishes the rest."""
    _, event = await _event_with_orders(client, admitted, 5)
    job = RetentionJob(runtime.engine, batch_size=2)
    stopped = await job.run_once(_after(event, 31), max_batches=1)
    assert stopped == {"anonymized": 2, "events_done": 0, "events_due": 1}
    assert value("onsale_retention_events_pending") == 1
    assert await _anonymized(runtime, str(event["id"])) == (2, None)
    assert await find_everywhere(runtime.engine, NAME) == {"orders.buyer_name": 3}
    resumed = await job.run_once(_after(event, 31))
    assert resumed == {"anonymized": 3, "events_done": 1, "events_due": 1}
    assert await find_everywhere(runtime.engine, NAME) == {}


async def test_retention_days_is_validated_and_patchable(client: httpx.AsyncClient) -> None:
    venue = await new_venue(client)
    event = await new_event(client, venue["api_key"])
    assert event["retention_days"] == 1095
    for bad in (-1, 3651, "30", True, 1.5):
        r = await client.patch(
            f"/api/admin/events/{event['id']}",
            json={"retention_days": bad},
            headers=auth(venue["api_key"]),
        )
        assert r.status_code == 422 and error_code(r) == "validation_error", bad
        assert "retention_days" in r.json()["error"]["details"]["fields"]
    r = await client.patch(
        f"/api/admin/events/{event['id']}",
        json={"retention_days": 365},
        headers=auth(venue["api_key"]),
    )
    assert r.status_code == 200 and r.json()["retention_days"] == 365
