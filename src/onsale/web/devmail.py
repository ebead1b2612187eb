"""``/dev/mail``: the messages the demo's mail sink caught (only mounted by
``onsale demo``). A message's HTML is served on its own with a policy that
runs no script, its inline images (``cid:``) from their own URLs."""

from __future__ import annotations

import html
from email.message import EmailMessage

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from onsale.embedded.mailsink import MailSink

MAIL_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'"


def _message(sink: MailSink, request: Request) -> tuple[int, EmailMessage]:
    try:
        n = int(request.path_params["n"])
        return n, sink.messages()[n]
    except (ValueError, IndexError) as exc:
        raise HTTPException(404, "No such message") from exc


def routes(sink: MailSink) -> list[Route]:
    async def listing(request: Request) -> Response:
        rows = []
        for n, msg in reversed(list(enumerate(sink.messages()))):
            text = msg.get_body(preferencelist=("plain",))
            rows.append(
                f"<li><a href='/dev/mail/{n}'>{html.escape(str(msg['Subject']))}</a>"
                f" to {html.escape(str(msg['To']))}"
                f"<pre>{html.escape(text.get_content() if text else '')}</pre></li>"
            )
        body = (
            "<!doctype html><meta charset='utf-8'><title>Caught mail</title>"
            "<h1>Mail caught by the demo's mail sink</h1>"
            f"<p>{len(rows)} message(s), newest first. Nothing leaves this machine.</p>"
            f"<ol>{''.join(rows) or '<li>None yet: buy a ticket.</li>'}</ol>"
        )
        return HTMLResponse(body, headers={"Content-Security-Policy": MAIL_CSP})

    async def one(request: Request) -> Response:
        n, msg = _message(sink, request)
        part = msg.get_body(preferencelist=("html", "plain"))
        content = part.get_content() if part else ""
        if part is not None and part.get_content_type() == "text/plain":
            content = f"<pre>{html.escape(content)}</pre>"
        return HTMLResponse(
            str(content).replace("cid:", f"/dev/mail/{n}/cid/"),
            headers={"Content-Security-Policy": MAIL_CSP},
        )

    async def image(request: Request) -> Response:
        _, msg = _message(sink, request)
        cid = f"<{request.path_params['cid']}>"
        for part in msg.walk():
            if part.get("Content-ID") == cid:
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    return Response(payload, media_type=part.get_content_type())
        raise HTTPException(404, "No such image")

    return [
        Route("/dev/mail", listing),
        Route("/dev/mail/{n}", one),
        Route("/dev/mail/{n}/cid/{cid:path}", image),
    ]
