"""Stripe per venue: the venues' payment accounts (secrets sealed), the
Stripe events handled (by id, so a replay changes nothing), the notices of
payments cancelled without an order, and on each payment the venue, buyer and
queue entry it was started for (a webhook writes the order of a fan who left).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PAYMENT_COLUMNS = ("venue_id", "buyer_email", "buyer_name", "queue_entry", "places")


def upgrade() -> None:
    now = sa.text("now()")
    for name in PAYMENT_COLUMNS:
        op.add_column("payments", sa.Column(name, sa.Text))
    op.create_table(
        "payment_accounts",
        sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), primary_key=True),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("publishable_key", sa.Text, nullable=False),
        sa.Column("secret_key_sealed", sa.Text, nullable=False),
        sa.Column("webhook_secret_sealed", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("venue_id", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("payment_ref", sa.Text),
        sa.Column("outcome", sa.Text, nullable=False, server_default=""),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
    )
    op.create_table(
        "payment_notices",
        sa.Column("payment_id", sa.Text, sa.ForeignKey("payments.id"), primary_key=True),
        sa.Column("venue_id", sa.Text),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("buyer_email", sa.Text),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("payment_notices")
    op.drop_table("stripe_events")
    op.drop_table("payment_accounts")
    for name in PAYMENT_COLUMNS:
        op.drop_column("payments", name)
