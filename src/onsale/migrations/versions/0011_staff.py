"""Staff and the buyers' data: roles on venue keys (a staff key is a venue key
with a role and a person), suspended venues and their settings (consent
wording, privacy notice), the audit log's role and address, each event's
retention and the marks of the retention job, and the consents.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every key made before this acted for the whole venue: it stays a manager.
    op.add_column(
        "venue_keys", sa.Column("role", sa.Text, nullable=False, server_default="manager")
    )
    op.add_column("venue_keys", sa.Column("staff_id", sa.Text))
    op.add_column("venue_keys", sa.Column("staff_email", sa.Text))
    op.create_index("venue_keys_staff", "venue_keys", ["staff_id"])
    op.create_check_constraint(
        "venue_keys_role", "venue_keys", "role IN ('manager', 'boxoffice', 'door', 'viewer')"
    )
    op.add_column("venues", sa.Column("suspended_at", sa.DateTime(timezone=True)))
    op.add_column("venues", sa.Column("settings", JSONB, nullable=False, server_default="{}"))
    op.add_column("audit_log", sa.Column("actor_role", sa.Text))
    op.add_column("audit_log", sa.Column("address", sa.Text))
    op.create_index("audit_log_venue_id", "audit_log", ["venue_id", "id"])
    op.add_column(
        "events", sa.Column("retention_days", sa.Integer, nullable=False, server_default="1095")
    )
    op.add_column("events", sa.Column("buyers_anonymized_at", sa.DateTime(timezone=True)))
    op.add_column("orders", sa.Column("anonymized_at", sa.DateTime(timezone=True)))
    op.create_index("orders_venue_buyer", "orders", ["venue_id", "buyer_email_norm"])
    op.create_table(
        "consents",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("venue_id", sa.Text, sa.ForeignKey("venues.id"), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("email_norm", sa.Text, nullable=False),
        sa.Column("email_ref", sa.Text, nullable=False),
        sa.Column("marketing", sa.Boolean, nullable=False),
        sa.Column("wording_version", sa.Text, nullable=False),
        sa.Column("order_id", sa.Text, unique=True),
        sa.Column("event_id", sa.Text),
        sa.Column(
            "given_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        ),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True)),
        sa.Column("anonymized_at", sa.DateTime(timezone=True)),
        sa.Index("consents_buyer", "venue_id", "email_norm"),
        sa.Index("consents_ref", "venue_id", "email_ref"),
    )


def downgrade() -> None:
    op.drop_table("consents")
    op.drop_index("orders_venue_buyer", table_name="orders")
    op.drop_column("orders", "anonymized_at")
    op.drop_column("events", "buyers_anonymized_at")
    op.drop_column("events", "retention_days")
    op.drop_index("audit_log_venue_id", table_name="audit_log")
    op.drop_column("audit_log", "address")
    op.drop_column("audit_log", "actor_role")
    op.drop_column("venues", "settings")
    op.drop_column("venues", "suspended_at")
    op.drop_constraint("venue_keys_role", "venue_keys")
    op.drop_index("venue_keys_staff", table_name="venue_keys")
    op.drop_column("venue_keys", "staff_email")
    op.drop_column("venue_keys", "staff_id")
    op.drop_column("venue_keys", "role")
