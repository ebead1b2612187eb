"""A venue's own settings: its marketing-consent wording (off by default) and
its privacy notice (a contact and a URL or a text). Parsing is pure; the
two repository functions read and write ``venues.settings``."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from onsale.admin.consent import wording_version
from onsale.audit import Actor, audit
from onsale.errors import NotFound, ValidationFailed
from onsale.schema import venues

MAX_TEXT = 2000
DEFAULTS: dict[str, Any] = {
    "marketing_consent": {"enabled": False, "text_en": "", "text_fr": ""},
    "privacy": {"contact_email": "", "notice_url": "", "notice_text": ""},
}


def _text(raw: dict[str, Any], key: str, path: str, errors: dict[str, str], limit: int) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        errors[path] = f"a text of at most {limit} characters"
        return ""
    return value.strip()


def _section(body: dict[str, Any], name: str, errors: dict[str, str]) -> dict[str, Any]:
    raw = body.get(name, {})
    if not isinstance(raw, dict):
        errors[name] = "an object is required"
        return {}
    unknown = sorted(set(raw) - set(DEFAULTS[name]))
    errors.update({f"{name}.{k}": "unknown field" for k in unknown})
    return raw


def parse(body: Any) -> dict[str, Any]:
    """The settings of a PUT body. Raises ValidationFailed naming the fields."""
    if not isinstance(body, dict):
        raise ValidationFailed(fields={"": "an object is required"})
    errors: dict[str, str] = {k: "unknown field" for k in sorted(set(body) - set(DEFAULTS))}
    mc = _section(body, "marketing_consent", errors)
    pv = _section(body, "privacy", errors)
    enabled = mc.get("enabled", False)
    if not isinstance(enabled, bool):
        errors["marketing_consent.enabled"] = "true or false"
    consent = {
        "enabled": enabled is True,
        "text_en": _text(mc, "text_en", "marketing_consent.text_en", errors, MAX_TEXT),
        "text_fr": _text(mc, "text_fr", "marketing_consent.text_fr", errors, MAX_TEXT),
    }
    if consent["enabled"] and not (consent["text_en"] and consent["text_fr"]):
        errors["marketing_consent"] = "the wording in English and French is required"
    privacy = {
        "contact_email": _text(pv, "contact_email", "privacy.contact_email", errors, 254),
        "notice_url": _text(pv, "notice_url", "privacy.notice_url", errors, 500),
        "notice_text": _text(pv, "notice_text", "privacy.notice_text", errors, 20000),
    }
    if privacy["contact_email"] and "@" not in privacy["contact_email"]:
        errors["privacy.contact_email"] = "an e-mail address"
    if privacy["notice_url"] and not privacy["notice_url"].startswith("https://"):
        errors["privacy.notice_url"] = "an https:// URL"
    if errors:
        raise ValidationFailed("Some fields are invalid", fields=errors)
    return {"marketing_consent": consent, "privacy": privacy}


def view(stored: dict[str, Any]) -> dict[str, Any]:
    """The settings as the API shows them, with the wording's version."""
    out = {name: {**DEFAULTS[name], **stored.get(name, {})} for name in DEFAULTS}
    mc = out["marketing_consent"]
    mc["version"] = wording_version(mc["text_en"], mc["text_fr"])
    return out


async def load(engine: AsyncEngine, venue_id: str) -> dict[str, Any]:
    """The venue's settings (defaults filled in). Raises NotFound."""
    async with engine.connect() as conn:
        stored = (
            await conn.execute(sa.select(venues.c.settings).where(venues.c.id == venue_id))
        ).scalar_one_or_none()
    if stored is None:
        raise NotFound("No such venue")
    return view(stored)


async def store(
    engine: AsyncEngine, venue_id: str, settings: dict[str, Any], actor: Actor
) -> dict[str, Any]:
    async with engine.begin() as conn:
        await conn.execute(venues.update().where(venues.c.id == venue_id).values(settings=settings))
        await audit(
            conn,
            venue_id=venue_id,
            actor=actor,
            action="venue.settings",
            target=venue_id,
            details={"marketing_consent": settings["marketing_consent"]["enabled"]},
        )
    return view(settings)
