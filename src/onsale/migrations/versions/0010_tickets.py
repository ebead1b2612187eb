"""Tickets after the sale: numbers per venue, signing keys, the e-mail
outbox, door keys, check-ins and scans.

Revision ID: 0010
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0011"
branch_labels = None
depends_on = None

_now = sa.text("now()")


def _ts(name: str, *, now: bool = False) -> sa.Column[object]:
    if now:
        return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=_now)
    return sa.Column(name, sa.DateTime(timezone=True))


def upgrade() -> None:
    op.add_column("tickets", sa.Column("number", sa.BigInteger))
    op.create_table(
        "ticket_counters",
        sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), primary_key=True),
        sa.Column("last_number", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_table(
        "ticket_keys",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("private_sealed", sa.Text, nullable=False),
        _ts("created_at", now=True),
    )
    op.create_index("ix_ticket_keys_venue_id", "ticket_keys", ["venue_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False),
        sa.Column("order_id", sa.Text, sa.ForeignKey("orders.id")),
        sa.Column("recipient", sa.Text),
        sa.Column("payload", JSONB, nullable=False, server_default="{}"),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _ts("next_attempt_at", now=True),
        sa.Column("last_error", sa.Text),
        _ts("created_at", now=True),
        _ts("sent_at"),
        sa.CheckConstraint("status IN ('pending', 'sent')", name="outbox_status"),
    )
    op.create_index(
        "outbox_due", "outbox", ["next_attempt_at"], postgresql_where=sa.text("status = 'pending'")
    )
    op.create_index("outbox_order", "outbox", ["order_id"])
    op.create_table(
        "door_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False),
        sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        sa.Column("label", sa.Text, nullable=False),
        _ts("created_at", now=True),
        _ts("revoked_at"),
    )
    op.create_index("ix_door_keys_event_id", "door_keys", ["event_id"])
    op.create_table(
        "checkins",
        sa.Column("list_id", sa.Text, primary_key=True),
        sa.Column("ticket_id", sa.Text, sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("gate", sa.Text, nullable=False),
        sa.Column("scan_id", sa.Text, nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_checkins_event_id", "checkins", ["event_id"])
    op.create_table(
        "scans",
        sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), primary_key=True),
        sa.Column("scan_id", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, sa.ForeignKey("events.id")),
        sa.Column("ticket_id", sa.Text),
        sa.Column("gate", sa.Text, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("answer", JSONB),
        sa.Column("offline", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("local_result", sa.Text),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        _ts("received_at", now=True),
    )
    op.create_index("scans_event", "scans", ["event_id", "result"])


def downgrade() -> None:
    for table in ("scans", "checkins", "door_keys", "outbox", "ticket_keys", "ticket_counters"):
        op.drop_table(table)
    op.drop_column("tickets", "number")
