"""The buyers' data a venue holds: a buyer's export, their erasure, their
marketing consent (given at checkout, withdrawn by a link) and the venue's
list of opted-in contacts.

Every read and change is scoped by the venue: the same e-mail at another
venue is another buyer, untouched. The audit rows name the buyer only by a
keyed hash (``ConsentLinks.buyer_ref``), never by address or name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from onsale.admin import erasure, venue_settings
from onsale.admin.consent import ConsentLinks
from onsale.audit import Actor, audit
from onsale.checkout import repo as order_repo
from onsale.checkout.orders import order_json
from onsale.checkout.policy import EMAIL_RE, normalize_email
from onsale.errors import ValidationFailed
from onsale.events.policy import Event, iso
from onsale.monitoring import metrics, timing
from onsale.schema import consents, orders


def parse_email(value: Any, field: str = "email") -> str:
    """A buyer's e-mail from a query or body. Raises ValidationFailed."""
    if not isinstance(value, str) or len(value) > 254 or not EMAIL_RE.match(value.strip()):
        raise ValidationFailed("Some fields are invalid", fields={field: "an e-mail address"})
    return value.strip()


def consent_json(row: Any) -> dict[str, Any]:
    return {
        "email": row.email,
        "marketing": row.marketing,
        "wording_version": row.wording_version,
        "given_at": iso(row.given_at),
        "withdrawn_at": iso(row.withdrawn_at) if row.withdrawn_at else None,
        "order_id": row.order_id,
        "event_id": row.event_id,
    }


async def _buyer_orders(conn: AsyncConnection, venue_id: str, norm: str) -> list[Any]:
    query = sa.select(orders.c.id, orders.c.hold_id).where(
        orders.c.venue_id == venue_id, orders.c.buyer_email_norm == norm
    )
    return list((await conn.execute(query.with_for_update())).all())


@dataclass
class BuyerService:
    engine: AsyncEngine
    links: ConsentLinks

    @timing.postgres
    async def export(self, venue_id: str, email: str, actor: Actor) -> dict[str, Any]:
        """Everything the venue holds about the buyer: orders (with their
        tickets), consents."""
        norm = normalize_email(email)
        async with self.engine.begin() as conn:
            found = await order_repo.orders_where(
                conn, sa.and_(orders.c.venue_id == venue_id, orders.c.buyer_email_norm == norm)
            )
            given = (
                await conn.execute(
                    sa.select(consents)
                    .where(consents.c.venue_id == venue_id, consents.c.email_norm == norm)
                    .order_by(consents.c.id)
                )
            ).all()
            await audit(
                conn,
                venue_id=venue_id,
                actor=actor,
                action="buyer.export",
                target=self.links.buyer_ref(email),
                details={"orders": len(found), "consents": len(given)},
            )
        return {
            "email": email,
            "orders": [order_json(o) for o in found],
            "consents": [consent_json(c) for c in given],
        }

    @timing.postgres
    async def erase(self, venue_id: str, email: str, actor: Actor) -> int:
        """Anonymize the buyer everywhere the venue keeps them; the number of
        orders anonymized. Safe to repeat (0 the second time)."""
        norm = normalize_email(email)
        async with self.engine.begin() as conn:
            rows = await _buyer_orders(conn, venue_id, norm)
            scope = erasure.Scope(
                venue_id,
                tuple(r.id for r in rows),
                tuple(r.hold_id for r in rows if r.hold_id),
                (norm,),
                datetime.now(UTC),
            )
            changed = await erasure.anonymize(conn, scope)
            await audit(
                conn,
                venue_id=venue_id,
                actor=actor,
                action="buyer.erase",
                target=self.links.buyer_ref(email),
                details={"orders_anonymized": len(rows), "consents": changed["consents"]},
            )
        metrics.BUYERS_ANONYMIZED.labels("request").inc(len(rows))
        return len(rows)

    @timing.postgres
    async def record_consent(self, event: Event, order: dict[str, Any], body: Any) -> bool:
        """Note the buyer's ``"consent": {"marketing": true}`` of a checkout,
        when the venue asks for it; once per order (a replayed checkout adds
        nothing). Whether a consent was recorded."""
        wanted = body.get("consent") if isinstance(body, dict) else None
        if not isinstance(wanted, dict) or wanted.get("marketing") is not True:
            return False
        settings = await venue_settings.load(self.engine, event.venue_id)
        wording = settings["marketing_consent"]
        if not wording["enabled"]:
            return False
        # The checkout that answered 201 validated the buyer of its body.
        email = str(body["buyer"]["email"]).strip()
        statement = (
            pg_insert(consents)
            .values(
                venue_id=event.venue_id,
                email=email,
                email_norm=normalize_email(email),
                email_ref=self.links.buyer_ref(email),
                marketing=True,
                wording_version=wording["version"],
                order_id=order["order_id"],
                event_id=event.id,
            )
            .on_conflict_do_nothing(index_elements=["order_id"])
        )
        async with self.engine.begin() as conn:
            return (await conn.execute(statement)).rowcount == 1

    @timing.postgres
    async def withdraw(self, token: str) -> bool:
        """Withdraw the consent the link's token names. False for a forged
        token (nothing changes)."""
        found = self.links.read_token(token)
        if found is None:
            return False
        venue_id, ref = found
        async with self.engine.begin() as conn:
            await conn.execute(
                consents.update()
                .where(
                    consents.c.venue_id == venue_id,
                    consents.c.email_ref == ref,
                    consents.c.withdrawn_at.is_(None),
                )
                .values(withdrawn_at=sa.func.now())
            )
        return True

    @timing.postgres
    async def opted_in(self, venue_id: str, actor: Actor) -> list[dict[str, Any]]:
        """The venue's contacts whose latest consent stands."""
        newer = consents.alias("newer")
        # A buyer's latest consent to the venue is their answer.
        latest = sa.select(consents).where(
            consents.c.venue_id == venue_id,
            consents.c.anonymized_at.is_(None),
            consents.c.marketing,
            consents.c.withdrawn_at.is_(None),
            ~sa.exists().where(
                newer.c.venue_id == consents.c.venue_id,
                newer.c.email_norm == consents.c.email_norm,
                newer.c.id > consents.c.id,
            ),
        )
        async with self.engine.begin() as conn:
            rows = (await conn.execute(latest.order_by(consents.c.email_norm))).all()
            await audit(
                conn,
                venue_id=venue_id,
                actor=actor,
                action="consents.export",
                target=venue_id,
                details={"contacts": len(rows)},
            )
        return [consent_json(r) for r in rows]
