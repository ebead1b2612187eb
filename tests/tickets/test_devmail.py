"""The demo's mail sink and its /dev/mail page: a message sent through the
SMTP client reaches the sink and shows up, its HTML and its QR images too."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from onsale.embedded.mailsink import start_sink
from onsale.settings import Secret
from onsale.tickets.mail import qr_png
from onsale.tickets.smtp import SmtpSender
from onsale.web import devmail


async def test_caught_mail_is_shown() -> None:
    sink = start_sink()
    assert sink is not None
    try:
        from email.message import EmailMessage

        msg = EmailMessage()
        msg["Subject"] = "Your tickets: <Night show>"
        msg["From"] = "tickets@onsale.invalid"
        msg["To"] = "fan@example.org"
        msg.set_content("Ticket number: 1")
        msg.add_alternative("<p>Ticket <img src='cid:qr1@onsale'></p>", subtype="html")
        html_part = msg.get_payload()[1]  # type: ignore[index]
        html_part.add_related(qr_png("ev_1.tkt_1.x")[0], "image", "png", cid="<qr1@onsale>")
        await SmtpSender(Secret(sink.url)).send(msg)
        app = Starlette(routes=devmail.routes(sink))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://demo"
        ) as client:
            listing = await client.get("/dev/mail")
            assert "&lt;Night show&gt;" in listing.text and "Ticket number: 1" in listing.text
            one = await client.get("/dev/mail/0")
            assert "/dev/mail/0/cid/qr1@onsale" in one.text
            assert "script-src" not in one.headers["content-security-policy"]
            image = await client.get("/dev/mail/0/cid/qr1@onsale")
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
            assert (await client.get("/dev/mail/7")).status_code == 404
    finally:
        sink.stop()
