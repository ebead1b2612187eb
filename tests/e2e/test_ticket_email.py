"""The tickets' e-mail as a fan sees it: a real server sends it through a real
SMTP server (the demo's sink, aiosmtpd), Chromium shows its HTML, and the QR
codes in it decode (jsQR, in the page) to the tickets' codes; the link opens
the order page."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

import onsale
from onsale.embedded.mailsink import MailSink
from onsale.settings import Settings
from tests import live_server
from tests.e2e.door_helpers import sell

JSQR = Path(onsale.__file__).parent / "web" / "static" / "vendor" / "jsqr" / "jsQR.js"


@pytest.fixture(scope="module")
def sink() -> Iterator[MailSink]:
    s = MailSink()
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def server(settings: Settings, sink: MailSink) -> Iterator[live_server.Server]:
    with live_server.running(
        settings,
        ONSALE_BACKGROUND_TASKS="1",
        ONSALE_SMTP_URL=sink.url,
        ONSALE_MAIL_INTERVAL_SECONDS="0.2",
        ONSALE_MAIL_FROM="tickets@coop.example",
    ) as servers:
        yield servers[0]


def _html_with_images(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    html: str = part.get_content()  # type: ignore[attr-defined]
    for image in msg.walk():
        if image.get_content_type() == "image/png":
            data = base64.b64encode(image.get_payload(decode=True)).decode()  # type: ignore[arg-type]
            html = html.replace(
                f"cid:{image['Content-ID'].strip('<>')}", f"data:image/png;base64,{data}"
            )
    return html


DECODE = """async () => {
  const out = [];
  for (const img of document.querySelectorAll('img')) {
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const found = window.jsQR(data.data, data.width, data.height);
    out.push(found ? found.data : null);
  }
  return out;
}"""


def test_the_fan_gets_working_qr_codes(
    server: live_server.Server,
    api: httpx.Client,
    sink: MailSink,
    venue: dict[str, Any],
    event_of: Callable[..., str],
    new_page: Callable[..., Page],
    shots: Callable[[Page, str], Path],
) -> None:
    event_id = event_of(language="fr")
    order = sell(api, venue["api_key"], event_id, 2, email="camille@example.org")
    # (The server's worker also sends what earlier tests left in the outbox.)
    deadline = time.monotonic() + 10
    mine: list[EmailMessage] = []
    while not mine and time.monotonic() < deadline:
        time.sleep(0.1)
        mine = [m for m in sink.messages() if m["X-Onsale-Order"] == order["order_id"]]
    (msg,) = mine
    assert msg["To"] == "camille@example.org" and msg["From"] == "tickets@coop.example"
    page = new_page(viewport={"width": 640, "height": 900})
    page.set_content(_html_with_images(msg))
    page.add_script_tag(path=str(JSQR))
    shots(page, "e-mail")
    decoded = page.evaluate(DECODE)
    assert decoded == [t["code"] for t in order["tickets"]]
    link = page.locator("a[href*='/o/']").get_attribute("href")
    # ONSALE_PUBLIC_URL is left at its default (the server's port is not known
    # before it starts): the link's path and fragment are what matter.
    assert link and link.startswith(f"http://127.0.0.1:8000/o/{order['order_id']}?lang=fr#")
    page.goto(server.url + link.removeprefix("http://127.0.0.1:8000"))
    expect(page.get_by_test_id("ticket")).to_have_count(2)
