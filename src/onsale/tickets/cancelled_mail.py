"""The ``payment_cancelled`` e-mail: a buyer whose card was authorized but
whose order could not be written (the places were sold meanwhile, the order
was refused, it was not completed in time) is told that the payment was
cancelled and nothing was charged. Plain text, in the event's language.

The row carries the address (``recipient``: there is no order to read it
from) and, in its payload, the event and the reason; erasure clears the
address (``admin.erasure.PLACES``).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import sqlalchemy as sa

from onsale.schema import events, venues
from onsale.tickets.mail import MailContext
from onsale.tickets.outbox import Message

WORDS = {
    "en": {
        "subject": "Your payment for {event} was cancelled",
        "body": (
            "Hello,\n\nyour card was authorized for {event} at {venue}, but no order "
            "could be written ({why}). The payment was cancelled: nothing was charged, "
            "and the authorization on your card is released by your bank.\n\n{venue}\n"
        ),
        "places_sold": "the places were sold before the payment completed",
        "not_completed": "the purchase was not completed in time",
        "order_refused": "the order was refused",
    },
    "fr": {
        "subject": "Votre paiement pour {event} a été annulé",
        "body": (
            "Bonjour,\n\nvotre carte a été autorisée pour {event} à {venue}, mais aucune "
            "commande n'a pu être enregistrée ({why}). Le paiement est annulé : rien n'a "
            "été débité, et votre banque libère l'autorisation.\n\n{venue}\n"
        ),
        "places_sold": "les places ont été vendues avant la fin du paiement",
        "not_completed": "l'achat n'a pas été terminé à temps",
        "order_refused": "la commande a été refusée",
    },
}


async def payment_cancelled(ctx: MailContext, message: Message) -> EmailMessage | None:
    """The notice; None when its address was erased or its event is gone."""
    to = message.recipient
    if not to or "@" not in to:
        return None
    async with ctx.engine.connect() as conn:
        head = (
            await conn.execute(
                sa.select(events.c.name, events.c.language, venues.c.name.label("venue"))
                .select_from(events.join(venues, venues.c.id == events.c.venue_id))
                .where(events.c.id == str(message.payload.get("event_id", "")))
            )
        ).first()
    if head is None:
        return None
    w = WORDS.get(head.language, WORDS["en"])
    why = w.get(str(message.payload.get("reason", "")), w["not_completed"])
    msg = EmailMessage()
    msg["Subject"] = w["subject"].format(event=head.name)
    msg["From"] = ctx.mail_from
    msg["To"] = to
    msg["Message-ID"] = make_msgid(domain="onsale")
    msg.set_content(w["body"].format(event=head.name, venue=head.venue, why=why))
    return msg
