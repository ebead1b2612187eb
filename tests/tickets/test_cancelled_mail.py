"""A payment cancelled without an order (Stripe, issue 13) reaches the buyer
through the outbox (issue 14): the notice and its e-mail row are written
together, once per payment, and the e-mail says nothing was charged."""

from __future__ import annotations

import sqlalchemy as sa

from onsale.payments.notices import HOLD_GONE, notify_payment_cancelled
from onsale.runtime import Runtime
from onsale.schema import outbox, payment_notices, payments
from onsale.tickets.cancelled_mail import payment_cancelled
from onsale.tickets.mail import MailContext
from onsale.tickets.outbox import PAYMENT_CANCELLED, Message
from onsale.tickets.worker import TEMPLATES
from tests.conftest import MakeEvent


async def test_a_cancelled_payment_is_mailed_once_and_says_nothing_was_charged(
    runtime: Runtime, make_event: MakeEvent, venue: dict[str, str]
) -> None:
    event = await make_event()
    async with runtime.engine.begin() as conn:
        await conn.execute(
            payments.insert().values(
                id="pay_1",
                event_id=event["id"],
                provider="stripe",
                idempotency_key="k-1",
                amount_cents=2600,
                currency="EUR",
                status="voided",
                venue_id=venue["id"],
                buyer_email="fan@example.org",
            )
        )
    for _ in range(2):  # a second call (the reconciler, a replayed webhook): no second mail
        await notify_payment_cancelled(
            runtime.engine,
            payment_id="pay_1",
            venue_id=venue["id"],
            event_id=event["id"],
            buyer_email="fan@example.org",
            reason=HOLD_GONE,
        )
    async with runtime.engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox))).all()
        notice = (await conn.execute(sa.select(payment_notices))).one()
    assert [(r.kind, r.recipient, r.status) for r in rows] == [
        (PAYMENT_CANCELLED, "fan@example.org", "pending")
    ]
    assert notice.sent_at is not None
    assert TEMPLATES[PAYMENT_CANCELLED] is payment_cancelled
    row = rows[0]
    message = Message(row.id, row.kind, row.venue_id, None, row.recipient, row.payload, 0)
    ctx = MailContext(runtime.engine, "tickets@venue.test", "http://onsale.test", lambda *_: "")
    mail = await payment_cancelled(ctx, message)
    assert mail is not None and mail["To"] == "fan@example.org"
    assert "Night show" in mail["Subject"]
    body = mail.get_content()
    assert "nothing was charged" in body and "places were sold" in body
    # An erased address: nothing to send.
    erased = Message(row.id, row.kind, row.venue_id, None, None, row.payload, 0)
    assert await payment_cancelled(ctx, erased) is None
