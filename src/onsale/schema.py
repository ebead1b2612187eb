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
    # Set by the platform: the venue's keys are refused (403), its events not on sale.
    sa.Column("suspended_at", sa.DateTime(timezone=True)),
    # The venue's own settings (admin.venue_settings): consent wording, privacy notice.
    sa.Column("settings", JSONB, nullable=False, server_default="{}"),
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
    # A staff key is a venue key with a role and a person (admin.roles): one
    # key check, and rotation and revocation for free. The keys made when the
    # venue was created or re-issued have no staff id and act as managers.
    sa.Column("role", sa.Text, nullable=False, server_default="manager"),
    sa.Column("staff_id", sa.Text),
    sa.Column("staff_email", sa.Text),
    sa.Index("venue_keys_venue", "venue_id"),
    sa.Index("venue_keys_staff", "staff_id"),
    sa.CheckConstraint(
        "role IN ('manager', 'boxoffice', 'door', 'viewer')", name="venue_keys_role"
    ),
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
    # Days after the event when its buyers are anonymized (admin.retention).
    sa.Column("retention_days", sa.Integer, nullable=False, server_default="1095"),
    # When the retention job finished with the event's buyers.
    sa.Column("buyers_anonymized_at", sa.DateTime(timezone=True)),
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
    # When the buyer's e-mail and name were erased (on request or by retention).
    sa.Column("anonymized_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("channel IN ('online', 'boxoffice')", name="orders_channel"),
    sa.CheckConstraint("status IN ('paid', 'refunded')", name="orders_status"),
    sa.Index("orders_buyer", "event_id", "buyer_email_norm"),
    sa.Index("orders_venue_buyer", "venue_id", "buyer_email_norm"),
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
    # I10: the venue's running number (tickets.numbering), null only for
    # tickets sold before migration 0010. A refund voids the ticket, never the
    # number.
    sa.Column("number", sa.BigInteger),
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
    # Stripe payments (migration 0009): whose account took it, and the buyer
    # and queue entry the payment was started for, so that a webhook can write
    # the order of a fan who closed the tab. buyer_* are buyer data.
    sa.Column("venue_id", sa.Text),
    sa.Column("buyer_email", sa.Text),
    sa.Column("buyer_name", sa.Text),
    sa.Column("queue_entry", sa.Text),
    sa.Column("places", sa.Text),  # the hold's section, seats and quantity (JSON)
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
    # The actor's role and client address (as the proxy settings resolve it).
    sa.Column("actor_role", sa.Text),
    sa.Column("address", sa.Text),
    sa.Index("audit_log_venue_id", "venue_id", "id"),
)

# A buyer's marketing consent to one venue, one row per consent given (the
# latest row of a venue and e-mail is the buyer's answer). ``email_ref`` is a
# keyed hash of the normalized e-mail: what the withdrawal link carries.
consents = sa.Table(
    "consents",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("email_norm", sa.Text, nullable=False),
    sa.Column("email_ref", sa.Text, nullable=False),
    sa.Column("marketing", sa.Boolean, nullable=False),
    sa.Column("wording_version", sa.Text, nullable=False),
    sa.Column("order_id", sa.Text, unique=True),
    sa.Column("event_id", sa.Text),
    sa.Column("given_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("withdrawn_at", sa.DateTime(timezone=True)),
    sa.Column("anonymized_at", sa.DateTime(timezone=True)),
    sa.Index("consents_buyer", "venue_id", "email_norm"),
    sa.Index("consents_ref", "venue_id", "email_ref"),
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

# A venue's own payment account (migration 0009): the secret key and the
# webhook secret are sealed (onsale.secretbox), never returned or logged.
payment_accounts = sa.Table(
    "payment_accounts",
    metadata,
    sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), primary_key=True),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("publishable_key", sa.Text, nullable=False),
    sa.Column("secret_key_sealed", sa.Text, nullable=False),
    sa.Column("webhook_secret_sealed", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
)

# Each Stripe event handled once: its id is the key, a replay finds it here.
stripe_events = sa.Table(
    "stripe_events",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("venue_id", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("payment_ref", sa.Text),
    sa.Column("outcome", sa.Text, nullable=False, server_default=""),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
)

# Payments cancelled without an order, whose buyer is to be told (the e-mail
# outbox sends them; ``sent_at`` is set once it took them). Buyer data.
payment_notices = sa.Table(
    "payment_notices",
    metadata,
    sa.Column("payment_id", sa.Text, sa.ForeignKey("payments.id"), primary_key=True),
    sa.Column("venue_id", sa.Text),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("buyer_email", sa.Text),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
)

# ---------------------------------------------------------------- tickets/
# The last number given out per venue. Updated as one of the last statements of
# the order's transaction (tickets.numbering): a rolled-back order rolls its
# numbers back, so the series has no gaps (I10).
ticket_counters = sa.Table(
    "ticket_counters",
    metadata,
    sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), primary_key=True),
    sa.Column("last_number", sa.BigInteger, nullable=False, server_default="0"),
)

# Each venue's Ed25519 key for ticket codes: the private key sealed
# (onsale.secretbox, context "ticketkey:<venue_id>"), the public key in clear
# for the door devices.
ticket_keys = sa.Table(
    "ticket_keys",
    metadata,
    # Several per venue: the newest that opens signs, every one verifies
    # (tickets.keys).
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False, index=True),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("private_sealed", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
)

# The transactional outbox (I12). A row says what to send and about what; the
# message itself is rendered at send time from the order, so no rendered
# body is stored. ``recipient`` is null when the order's buyer is meant (the
# only buyer data a row may hold: erasure clears it, admin.erasure.PLACES).
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False),
    sa.Column("order_id", sa.Text, sa.ForeignKey("orders.id")),
    sa.Column("recipient", sa.Text),
    sa.Column("payload", JSONB, nullable=False, server_default="{}"),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    # The error's class only: a mail server's answer may quote the address.
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("status IN ('pending', 'sent')", name="outbox_status"),
    sa.Index(
        "outbox_due",
        "next_attempt_at",
        postgresql_where=sa.text("status = 'pending'"),
    ),
    sa.Index("outbox_order", "order_id"),
)

# Keys that can only scan one event (API.md). The key itself is shown once;
# its SHA-256 is kept.
door_keys = sa.Table(
    "door_keys",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False),
    sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), nullable=False, index=True),
    sa.Column("key_hash", sa.Text, nullable=False, unique=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

# I11: one row per ticket and check-in list; the primary key is the atomic
# step that only the first scanner wins (INSERT ... ON CONFLICT DO NOTHING).
checkins = sa.Table(
    "checkins",
    metadata,
    sa.Column("list_id", sa.Text, primary_key=True),
    sa.Column("ticket_id", sa.Text, sa.ForeignKey("tickets.id"), primary_key=True),
    sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), nullable=False, index=True),
    sa.Column("gate", sa.Text, nullable=False),
    sa.Column("scan_id", sa.Text, nullable=False),
    sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
)

# Every scan and the answer it got, keyed by the scanner's scan id: the same
# scan id again gets the first answer. ``offline``: scanned while the device
# had no network and uploaded later (its answer on the phone was local).
scans = sa.Table(
    "scans",
    metadata,
    sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), primary_key=True),
    sa.Column("scan_id", sa.Text, primary_key=True),
    # Null: a code no event of the venue signed, read by a venue-wide scanner.
    sa.Column("event_id", sa.Text, sa.ForeignKey("events.id")),
    sa.Column("ticket_id", sa.Text),
    sa.Column("gate", sa.Text, nullable=False),
    sa.Column("result", sa.Text),
    sa.Column("answer", JSONB),
    sa.Column("offline", sa.Boolean, nullable=False, server_default="false"),
    # What the offline device told the person at the door (its own check):
    # an "admitted" there and "already_admitted" here is a double entry.
    sa.Column("local_result", sa.Text),
    sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Index("scans_event", "event_id", "result"),
)
