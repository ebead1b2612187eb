"""The HTTP edge of the pages: the fan's page, the venue's page, static files."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from onsale.errors import NotFound
from onsale.events.policy import LANGUAGES
from onsale.headers import page_headers
from onsale.http import path_param, runtime_of
from onsale.web.strings import dictionary

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def _language(request: Request, default: str) -> str:
    """The fan's choice (``?lang=``) when it is one we speak, else the default."""
    chosen = request.query_params.get("lang", "")
    return chosen if chosen in LANGUAGES else default


def _protected(request: Request) -> dict[str, str]:
    """A page's security headers (CSP and friends: ``onsale.headers``)."""
    return page_headers(runtime_of(request).settings, request.headers.get("host"))


async def fan_page(request: Request) -> Response:
    rt = runtime_of(request)
    try:
        event = await rt.events.get(path_param(request, "event_id"))
    except NotFound:
        return templates.TemplateResponse(
            request,
            "missing.html",
            {"language": _language(request, "en")},
            status_code=404,
            headers=_protected(request),
        )
    language = _language(request, event.spec.language)
    return templates.TemplateResponse(
        request,
        "fan.html",
        {
            "event_id": event.id,
            "event_name": event.spec.name,
            "language": language,
            "other_language": next(x for x in LANGUAGES if x != language),
            "t": dictionary(language),
            # A hint only: the join asks for a challenge when the server says so.
            "pow_difficulty": event.spec.admission.pow_difficulty,
            # Loaded only when the event's venue takes Stripe (the CSP allows it).
            "stripe_js_url": rt.settings.stripe_js_url,
        },
        # The shell is per event and language; the live state comes from the API.
        headers={"Cache-Control": "no-cache", **_protected(request)},
    )


async def admin_page(request: Request) -> Response:
    return templates.TemplateResponse(
        request, "admin.html", {"language": _language(request, "en")}, headers=_protected(request)
    )


def _page(request: Request, template: str, page: str, **extra: object) -> Response:
    language = _language(request, "en")
    return templates.TemplateResponse(
        request,
        template,
        {
            "language": language,
            "other_language": next(x for x in LANGUAGES if x != language),
            "t": dictionary(language, page),
            **extra,
        },
        headers={"Cache-Control": "no-cache", **_protected(request)},
    )


async def door_page(request: Request) -> Response:
    """The door staff's page: the key is typed on the phone and kept there."""
    return _page(request, "door.html", "door")


async def order_page(request: Request) -> Response:
    """An order's tickets again. The order token is in the URL's fragment
    (``/o/<id>#<token>``), which the browser never sends: the page reads it
    and asks the API with it, so no server log ever holds it."""
    return _page(request, "order.html", "fan", order_id=path_param(request, "order_id"))


routes = [
    Route("/e/{event_id}", fan_page),
    Route("/admin", admin_page),
    Route("/door", door_page),
    Route("/o/{order_id}", order_page),
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]
