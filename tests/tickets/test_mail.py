"""I12: the tickets' e-mail, through the outbox and a real SMTP server.

One e-mail per paid order, with every ticket (number, code, QR image) and a
link whose order token opens the order; the mail server down for a while
loses no e-mail and sends none twice, even with two workers; a resend sends
again on purpose.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from onsale.runtime import Runtime, mail_worker
from onsale.schema import outbox
from onsale.settings import Secret
from onsale.tickets.worker import MailWorker
from tests.conftest import MakeEvent, auth
from tests.tickets.mailsink import MailSink
from tests.tickets.test_numbering import sell


@pytest.fixture
def sink() -> Iterator[MailSink]:
    s = MailSink()
    s.start()
    yield s
    s.stop()


def worker(runtime: Runtime, sink: MailSink, *, retry: float = 0.2) -> MailWorker:
    settings = runtime.settings.with_overrides(
        smtp_url=Secret(sink.url), mail_retry_seconds=retry, mail_retry_max_seconds=retry * 4
    )
    return mail_worker(settings, runtime.engine, runtime.signer)


def body_of(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    text: str = part.get_content()  # type: ignore[attr-defined]
    return text


async def test_one_email_per_order_with_every_ticket(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    sink: MailSink,
) -> None:
    event = await make_event()
    order = await sell(client, venue["api_key"], event["id"], 1, quantity=2)
    w = worker(runtime, sink)
    assert await w.run_once() == 1
    assert await w.run_once() == 0  # sent once
    (msg,) = sink.messages
    assert msg["To"] == "fan1@example.org"
    assert "Night show" in msg["Subject"]
    text = body_of(msg, "plain")
    html = body_of(msg, "html")
    for t in order["tickets"]:
        assert t["code"] in text and t["code"] in html
        assert f": {t['number']}" in text
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 2
    for img in images:
        assert f"cid:{img['Content-ID'].strip('<>')}" in html
    # The link carries the order token in the fragment; the token opens the order.
    link = next(word for word in text.split() if "/o/" in word)
    path, _, token = link.partition("#")
    assert path.endswith(f"/o/{order['order_id']}?lang=en") and token
    r = await client.get(f"/api/orders/{order['order_id']}", headers=auth(token))
    assert r.status_code == 200, r.text
    assert [t["number"] for t in r.json()["tickets"]] == [t["number"] for t in order["tickets"]]


async def test_french_event_gets_a_french_email(
    client: httpx.AsyncClient, runtime: Runtime, venue: dict[str, str], sink: MailSink
) -> None:
    from tests.conftest import event_body

    body = {**event_body(), "language": "fr"}
    r = await client.post("/api/admin/events", json=body, headers=auth(venue["api_key"]))
    assert r.status_code == 201, r.text
    await sell(client, venue["api_key"], r.json()["id"], 1)
    await worker(runtime, sink).run_once()
    (msg,) = sink.messages
    assert msg["Subject"].startswith("Vos billets")
    assert "Numéro de billet" in body_of(msg, "plain")
    assert "(Europe/Paris)" in body_of(msg, "plain")


async def _rows(runtime: Runtime) -> list[Any]:
    async with runtime.engine.connect() as conn:
        return list((await conn.execute(sa.select(outbox).order_by(outbox.c.id))).all())


async def test_mail_server_down_loses_nothing_and_sends_nothing_twice(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    sink: MailSink,
) -> None:
    event = await make_event()
    sink.stop()  # the mail server goes down
    orders = [await sell(client, venue["api_key"], event["id"], i) for i in range(4)]
    a, b = worker(runtime, sink), worker(runtime, sink)
    assert await a.run_once() == 0
    rows = await _rows(runtime)
    assert [r.status for r in rows] == ["pending"] * 4
    assert all(r.attempts == 1 and r.last_error for r in rows)
    # Backed off: nothing is due right away, so nothing is tried.
    assert await a.run_once() == 0
    assert [r.attempts for r in await _rows(runtime)] == [1] * 4
    await asyncio.sleep(0.3)
    assert await a.run_once() == 0  # still down: a second failure, a longer wait
    assert [r.attempts for r in await _rows(runtime)] == [2] * 4
    sink.start()  # back
    await asyncio.sleep(0.5)
    sent = await asyncio.gather(a.run_once(), b.run_once(), a.run_once(), b.run_once())
    assert sum(sent) == 4
    assert Counter(sink.orders()) == Counter(o["order_id"] for o in orders)
    assert await a.run_once() + await b.run_once() == 0
    assert len(sink.messages) == 4
    assert [r.status for r in await _rows(runtime)] == ["sent"] * 4


class SlowSender:
    """A mail server that takes a while to answer: the window in which a
    second worker could take the same row."""

    def __init__(self, sink: MailSink) -> None:
        self.sink = sink
        self.configured = True

    async def send(self, message: EmailMessage) -> None:
        await asyncio.sleep(0.2)
        self.sink.messages.append(message)


async def _two_workers_on_one_message(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    sink: MailSink,
    *,
    lock_rows: bool,
) -> list[str]:
    event = await make_event()
    await sell(client, venue["api_key"], event["id"], 1)
    workers = [
        dataclasses.replace(worker(runtime, sink), sender=SlowSender(sink), lock_rows=lock_rows)
        for _ in range(2)
    ]
    await asyncio.gather(*(w.run_once() for w in workers))
    return sink.orders()


async def test_two_workers_send_a_message_once(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    sink: MailSink,
) -> None:
    sent = await _two_workers_on_one_message(
        client, runtime, venue, make_event, sink, lock_rows=True
    )
    assert len(sent) == 1


async def test_negative_control_unlocked_claims_send_twice(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    sink: MailSink,
) -> None:
    sent = await _two_workers_on_one_message(
        client, runtime, venue, make_event, sink, lock_rows=False
    )
    assert len(sent) == 2 and len(set(sent)) == 1


async def test_resend_sends_again_on_purpose(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    sink: MailSink,
) -> None:
    event = await make_event()
    order = await sell(client, venue["api_key"], event["id"], 1)
    w = worker(runtime, sink)
    await w.run_once()
    r = await client.post(
        f"/api/admin/orders/{order['order_id']}/resend", headers=auth(venue["api_key"])
    )
    assert r.status_code == 202, r.text
    await w.run_once()
    assert sink.orders() == [order["order_id"]] * 2
    r = await client.post("/api/admin/orders/ord_nope/resend", headers=auth(venue["api_key"]))
    assert r.status_code == 404


async def test_a_refunded_order_is_not_mailed(
    client: httpx.AsyncClient,
    runtime: Runtime,
    venue: dict[str, str],
    make_event: MakeEvent,
    sink: MailSink,
) -> None:
    event = await make_event()
    order = await sell(client, venue["api_key"], event["id"], 1)
    r = await client.post(
        f"/api/admin/orders/{order['order_id']}/refund", headers=auth(venue["api_key"])
    )
    assert r.status_code == 200
    assert await worker(runtime, sink).run_once() == 0
    assert sink.messages == []
    assert [r.status for r in await _rows(runtime)] == ["sent"]
