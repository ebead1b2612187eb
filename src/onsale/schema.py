"""The Postgres tables (SQLAlchemy Core). Migrations in ``onsale/migrations``
create exactly these; a test compares the two.

Postgres is the durable truth of what is sold. Two guards make it refuse an
oversell even when Redis is wrong:
- ``tickets_live_seat``: a partial unique index, one live ticket per seat;
- ``sections.sold``: a counter changed only as ``sold = sold + n WHERE
  sold + n <= capacity`` in the transaction that writes the tickets, with a
  CHECK constraint behind it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

_now = sa.text("now()")

venues = sa.Table(
    "venues",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("slug", sa.Text, nullable=False, unique=True),
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
)

venue_keys = sa.Table(
    "venue_keys",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False),
    # SHA-256 of the key: the key itself is shown once and never stored.
    sa.Column("key_hash", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    # The key's first characters, not secret (the rest holds 214 random bits):
    # what lets a venue tell its keys apart. Null for keys made before 0006.
    sa.Column("prefix", sa.Text),
    # Null: no expiry. A rotated key keeps working until then (its grace).
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    # Written at most once a minute per key, not on every request.
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
    sa.Index("venue_keys_venue", "venue_id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("prequeue_opens_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rate_per_minute", sa.Integer, nullable=False),
    sa.Column("max_active", sa.Integer, nullable=False),
    sa.Column("session_seconds", sa.Integer, nullable=False),
    sa.Column("hold_seconds", sa.Integer, nullable=False),
    sa.Column("per_order", sa.Integer, nullable=False),
    sa.Column("per_buyer", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("absent_grace_seconds", sa.Integer, nullable=False, server_default="60"),
    sa.Column("pow_difficulty", sa.Integer, nullable=False, server_default="0"),
    sa.Column("language", sa.Text, nullable=False, server_default="en"),
    sa.Column("shopper_grace_seconds", sa.Integer, nullable=False, server_default="20"),
    sa.CheckConstraint(
        "prequeue_opens_at <= opens_at AND opens_at < closes_at", name="events_sale_window"
    ),
)

categories = sa.Table(
    "categories",
    metadata,
    sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), primary_key=True),
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    # The ticket price and the venue's fee are separate lines, never summed in storage.
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.Column("fee_cents", sa.Integer, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.CheckConstraint("price_cents >= 0 AND fee_cents >= 0", name="categories_money"),
)

sections = sa.Table(
    "sections",
    metadata,
    sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), primary_key=True),
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("sold", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows", JSONB, nullable=False, server_default="[]"),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("kind IN ('ga', 'seated')", name="sections_kind"),
    sa.CheckConstraint("sold >= 0 AND sold <= capacity", name="sections_sold_within_capacity"),
)

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), nullable=False, index=True),
    sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("buyer_email", sa.Text, nullable=False),
    sa.Column("buyer_email_norm", sa.Text, nullable=False),
    sa.Column("buyer_name", sa.Text, nullable=False),
    sa.Column("total_cents", sa.Integer, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("hold_id", sa.Text, unique=True),
    sa.Column("queue_entry", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("refunded_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("channel IN ('online', 'boxoffice')", name="orders_channel"),
    sa.CheckConstraint("status IN ('paid', 'refunded')", name="orders_status"),
    sa.Index("orders_buyer", "event_id", "buyer_email_norm"),
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("order_id", sa.Text, sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), nullable=False),
    sa.Column("section", sa.Text, nullable=False),
    sa.Column("seat", sa.Text),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.Column("fee_cents", sa.Integer, nullable=False),
    sa.Column("code", sa.Text, nullable=False, unique=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.CheckConstraint("status IN ('live', 'void')", name="tickets_status"),
    # I1: a seat appears in at most one live ticket.
    sa.Index(
        "tickets_live_seat",
        "event_id",
        "seat",
        unique=True,
        postgresql_where=sa.text("status = 'live' AND seat IS NOT NULL"),
    ),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), nullable=False),
    sa.Column("order_id", sa.Text, sa.ForeignKey("orders.id"), index=True),
    sa.Column("hold_id", sa.Text),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("provider_ref", sa.Text),
    sa.Column("idempotency_key", sa.Text, nullable=False, index=True),
    sa.Column("amount_cents", sa.Integer, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("card_last4", sa.Text),
    # pending -> authorized -> captured -> refunded, or -> declined / voided
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.CheckConstraint(
        "status IN ('pending', 'authorized', 'captured', 'declined', 'voided', 'refunded')",
        name="payments_status",
    ),
    sa.Index(
        "payments_open",
        "status",
        "updated_at",
        postgresql_where=sa.text("status IN ('pending', 'authorized')"),
    ),
)

idempotency = sa.Table(
    "idempotency",
    metadata,
    sa.Column("scope", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # in_progress | done
    sa.Column("status_code", sa.Integer),
    sa.Column("response", JSONB),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    # The reconciler's sweeps (migration 0008): claims that died, and old
    # answers that were not orders.
    sa.Index(
        "idempotency_in_progress",
        "updated_at",
        postgresql_where=sa.text("state = 'in_progress'"),
    ),
    sa.Index(
        "idempotency_expiring",
        "created_at",
        postgresql_where=sa.text("state = 'done' AND status_code <> 201"),
    ),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("venue_id", sa.Text, index=True),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("details", JSONB, nullable=False, server_default="{}"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
)

# The pre-queue draw: the commitment is public from the start, the seed and
# the drawn order once the sale opened (onsale.queue.draw).
draws = sa.Table(
    "draws",
    metadata,
    sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), primary_key=True),
    sa.Column("commitment", sa.Text, nullable=False),
    sa.Column("seed", sa.Text, nullable=False),
    sa.Column("entries", JSONB),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("drawn_at", sa.DateTime(timezone=True)),
)

# The waiting room's counters that must outlive Redis (Redis keeps everything
# else of the queue; a fan's number is in their signed queue token). Written
# once per admission step and once per block of numbers, never per join.
queue_places = sa.Table(
    "queue_places",
    metadata,
    sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), primary_key=True),
    # Numbers up to it were admitted (the serving number at the last step).
    sa.Column("serving", sa.BigInteger, nullable=False, server_default="0"),
    # No number above it was ever given out: numbering resumes after it.
    sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
)
