"""The words of the tickets' e-mail, per language (the event's: en or fr),
and how dates and money are written in each. Pure."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "subject": "Your tickets: {event}",
        "hello": "Hello {name},",
        "intro": "Thank you for your order {order}. Here are your tickets for {event} at {venue}.",
        "when": "Date and time",
        "section": "Section",
        "seat": "Seat",
        "standing": "Standing",
        "price": "Price",
        "fee": "Fee",
        "number": "Ticket number",
        "code": "Code",
        "show": "Show this QR code at the door. Each ticket opens the door once.",
        "link": "See your tickets again at any time:",
        "total": "Total",
        "colon": ":",
    },
    "fr": {
        "subject": "Vos billets : {event}",
        "hello": "Bonjour {name},",
        "intro": "Merci pour votre commande {order}. Voici vos billets pour {event} à {venue}.",
        "when": "Date et heure",
        "section": "Zone",
        "seat": "Place",
        "standing": "Placement libre",
        "price": "Prix",
        "fee": "Frais",
        "number": "Numéro de billet",
        "code": "Code",
        "show": "Présentez ce QR code à l'entrée. Chaque billet n'ouvre la porte qu'une fois.",
        "link": "Retrouvez vos billets à tout moment :",
        "total": "Total",
        # French puts a (narrow no-break) space before a colon.
        "colon": "\u202f:",
    },
}


def words(language: str) -> dict[str, str]:
    return WORDS.get(language, WORDS["en"])


def when(starts_at: datetime, timezone: str, language: str) -> str:
    """The event's start in the venue's time zone, as people there write it."""
    local = starts_at.astimezone(ZoneInfo(timezone))
    if language == "fr":
        return f"{local:%d/%m/%Y %H:%M} ({timezone})"
    return f"{local:%Y-%m-%d %H:%M} ({timezone})"


def money(cents: int, currency: str, language: str) -> str:
    text = f"{cents // 100}.{cents % 100:02d}"
    if language == "fr":
        return f"{text.replace('.', ',')} {currency}"
    return f"{text} {currency}"
