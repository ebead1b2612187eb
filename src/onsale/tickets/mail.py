"""Rendering outbox messages into e-mails, at send time (the outbox stores
no message body): a template per kind, reading what it needs from Postgres.

``order_tickets``: every ticket of a paid order (event, venue, date and time
in the venue's time zone, section, seat, price and fee, number, code and its
QR code as an inline image) and a link to the order page. The order token
travels in the link's fragment (``/o/<order>#<token>``), which browsers never
send to a server, so it stays out of access logs.

Another kind registers itself in :data:`TEMPLATES`.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import segno
import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.schema import events, orders, tickets, venues
from onsale.tickets import words
from onsale.tickets.outbox import ORDER_TICKETS, Message

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
QR_SCALE = 4
QR_BORDER = 2

# An order token for (event id, order id, event start): handed in by the
# runtime, which owns the token policy (checkout).
OrderToken = Callable[[str, str, datetime], str]


@dataclass(frozen=True)
class MailContext:
    engine: AsyncEngine
    mail_from: str
    public_url: str
    order_token: OrderToken


Template = Callable[[MailContext, Message], Awaitable[EmailMessage | None]]


def qr_png(code: str) -> tuple[bytes, int]:
    """The code's QR image (PNG) and its side in pixels."""
    qr = segno.make(code, error="m")
    out = io.BytesIO()
    qr.save(out, kind="png", scale=QR_SCALE, border=QR_BORDER)
    width, _ = qr.symbol_size(scale=QR_SCALE, border=QR_BORDER)
    return out.getvalue(), int(width)


async def _order_data(engine: AsyncEngine, order_id: str) -> tuple[Any, list[Any]] | None:
    async with engine.connect() as conn:
        head = (
            await conn.execute(
                sa.select(
                    orders.c.id,
                    orders.c.status,
                    orders.c.buyer_email,
                    orders.c.buyer_name,
                    orders.c.currency,
                    orders.c.event_id,
                    events.c.name.label("event_name"),
                    events.c.starts_at,
                    events.c.language,
                    venues.c.name.label("venue_name"),
                    venues.c.timezone,
                )
                .select_from(orders.join(events).join(venues, venues.c.id == orders.c.venue_id))
                .where(orders.c.id == order_id)
            )
        ).first()
        if head is None:
            return None
        rows = (
            await conn.execute(
                sa.select(tickets)
                .where(tickets.c.order_id == order_id)
                .order_by(tickets.c.number, tickets.c.id)
            )
        ).all()
    return head, list(rows)


async def order_tickets(ctx: MailContext, message: Message) -> EmailMessage | None:
    """The tickets' e-mail; None when there is nothing to send (no such
    order, refunded, or its buyer's address erased)."""
    found = await _order_data(ctx.engine, message.order_id or "")
    if found is None:
        return None
    head, rows = found
    to = message.recipient or head.buyer_email
    if head.status != "paid" or not to or "@" not in to:
        return None
    lang = head.language
    w = words.words(lang)
    when = words.when(head.starts_at, head.timezone, lang)
    token = ctx.order_token(head.event_id, head.id, head.starts_at)
    link = f"{ctx.public_url}/o/{head.id}?lang={lang}#{token}"
    images: list[tuple[str, bytes]] = []
    shown = []
    for t in rows:
        png, size = qr_png(t.code)
        cid = make_msgid(domain="onsale")[1:-1]
        images.append((cid, png))
        shown.append(
            {
                "number": t.number,
                "section": t.section,
                "seat": t.seat,
                "price": words.money(t.price_cents, head.currency, lang),
                "fee": words.money(t.fee_cents, head.currency, lang),
                "code": t.code,
                "cid": cid,
                "qr_size": size,
            }
        )
    subject = w["subject"].format(event=head.event_name)
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = ctx.mail_from
    msg["To"] = to
    msg["Message-ID"] = make_msgid(domain="onsale")
    msg["X-Onsale-Order"] = head.id
    msg.set_content(_text(w, head, when, shown, link))
    html = _env.get_template("order_tickets.html").render(
        language=lang,
        subject=subject,
        w=w,
        name=head.buyer_name,
        order_id=head.id,
        event=head.event_name,
        venue=head.venue_name,
        when=when,
        tickets=shown,
        link=link,
        link_text=f"{ctx.public_url}/o/{head.id}",
    )
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    for cid, png in images:
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>")
    return msg


def _text(
    w: dict[str, str], head: sa.Row[Any], when: str, shown: list[dict[str, object]], link: str
) -> str:
    lines = [
        w["hello"].format(name=head.buyer_name),
        "",
        w["intro"].format(
            order=head.id,
            event=head.event_name,
            venue=head.venue_name,
        ),
        f"{w['when']}{w['colon']} {when}",
        "",
    ]
    c = w["colon"]
    for t in shown:
        lines += [
            f"{w['number']}{c} {t['number']}",
            f"{w['section']}{c} {t['section']}  {w['seat']}{c} {t['seat'] or w['standing']}",
            f"{w['price']}{c} {t['price']}  {w['fee']}{c} {t['fee']}",
            f"{w['code']}{c} {t['code']}",
            "",
        ]
    lines += [w["show"], "", f"{w['link']} {link}", ""]
    return "\n".join(lines)


TEMPLATES: dict[str, Template] = {ORDER_TICKETS: order_tickets}
