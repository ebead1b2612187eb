"""Initial schema: venues, keys, events, sections, categories, orders, tickets,
payments, idempotency records, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    if nullable:
        return sa.Column(name, sa.DateTime(timezone=True), nullable=True)
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=NOW)


def upgrade() -> None:
    op.create_table(
        "venues",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("slug", sa.Text, nullable=False, unique=True),
        sa.Column("timezone", sa.Text, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "venue_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False),
        sa.Column("key_hash", sa.Text, nullable=False, unique=True),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False, index=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prequeue_opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        *(
            sa.Column(name, sa.Integer, nullable=False)
            for name in (
                "rate_per_minute",
                "max_active",
                "session_seconds",
                "hold_seconds",
                "per_order",
                "per_buyer",
            )
        ),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(
            "prequeue_opens_at <= opens_at AND opens_at < closes_at", name="events_sale_window"
        ),
    )
    op.create_table(
        "categories",
        sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), primary_key=True),
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("price_cents", sa.Integer, nullable=False),
        sa.Column("fee_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.CheckConstraint("price_cents >= 0 AND fee_cents >= 0", name="categories_money"),
    )
    op.create_table(
        "sections",
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
    op.create_table(
        "orders",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), nullable=False, index=True),
        sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False),
        *(
            sa.Column(name, sa.Text, nullable=False)
            for name in ("channel", "status", "buyer_email", "buyer_email_norm", "buyer_name")
        ),
        sa.Column("total_cents", sa.Integer, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("hold_id", sa.Text, unique=True),
        sa.Column("queue_entry", sa.Text),
        _ts("created_at"),
        _ts("refunded_at", nullable=True),
        sa.CheckConstraint("channel IN ('online', 'boxoffice')", name="orders_channel"),
        sa.CheckConstraint("status IN ('paid', 'refunded')", name="orders_status"),
    )
    op.create_index("orders_buyer", "orders", ["event_id", "buyer_email_norm"])
    op.create_table(
        "tickets",
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
    )
    op.create_index(
        "tickets_live_seat",
        "tickets",
        ["event_id", "seat"],
        unique=True,
        postgresql_where=sa.text("status = 'live' AND seat IS NOT NULL"),
    )
    op.create_table(
        "payments",
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
        sa.Column("status", sa.Text, nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(
            "status IN ('pending', 'authorized', 'captured', 'declined', 'voided', 'refunded')",
            name="payments_status",
        ),
    )
    op.create_index(
        "payments_open",
        "payments",
        ["status", "updated_at"],
        postgresql_where=sa.text("status IN ('pending', 'authorized')"),
    )
    op.create_table(
        "idempotency",
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response", JSONB),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("venue_id", sa.Text, index=True),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("details", JSONB, nullable=False, server_default="{}"),
        _ts("created_at"),
    )


def downgrade() -> None:
    for table in (
        "audit_log",
        "idempotency",
        "payments",
        "tickets",
        "orders",
        "sections",
        "categories",
        "events",
        "venue_keys",
        "venues",
    ):
        op.drop_table(table)
