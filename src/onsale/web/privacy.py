"""The buyers' pages: a venue's privacy notice, and the withdrawal of one's
marketing consent (the link every venue e-mail carries: ``admin.consent``).

Withdrawing takes a button press (a POST): mail scanners and link previews
open links by themselves, and must not withdraw anyone's consent.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from onsale.admin import venue_settings
from onsale.errors import NotFound
from onsale.http import path_param, runtime_of
from onsale.web.routes import _language, _protected, templates


async def privacy_notice(request: Request) -> Response:
    rt = runtime_of(request)
    language = _language(request, "en")
    try:
        settings = await venue_settings.load(rt.engine, path_param(request, "venue_id"))
    except NotFound:
        return templates.TemplateResponse(
            request, "missing.html", {"language": language}, 404, headers=_protected(request)
        )
    privacy = settings["privacy"]
    if privacy["notice_url"] and not privacy["notice_text"]:
        return RedirectResponse(privacy["notice_url"], status_code=302)
    return templates.TemplateResponse(
        request,
        "privacy.html",
        {"language": language, "privacy": privacy},
        headers=_protected(request),
    )


async def withdraw_page(request: Request) -> Response:
    token = request.query_params.get("token", "")[:200]
    rt = runtime_of(request)
    valid = rt.buyers.links.read_token(token) is not None
    return templates.TemplateResponse(
        request,
        "withdraw.html",
        {"language": _language(request, "en"), "token": token, "valid": valid, "done": False},
        status_code=200 if valid else 404,
        headers=_protected(request),
    )


async def withdraw(request: Request) -> Response:
    token = request.query_params.get("token", "")[:200]
    done = await runtime_of(request).buyers.withdraw(token)
    return templates.TemplateResponse(
        request,
        "withdraw.html",
        {"language": _language(request, "en"), "token": token, "valid": done, "done": done},
        status_code=200 if done else 404,
        headers=_protected(request),
    )


routes = [
    Route("/privacy/{venue_id}", privacy_notice, methods=["GET"]),
    Route("/consent/withdraw", withdraw_page, methods=["GET"]),
    Route("/consent/withdraw", withdraw, methods=["POST"]),
]
