"""Waiting room: absence grace and proof-of-work per event, the draw record.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "events", sa.Column("absent_grace_seconds", sa.Integer, nullable=False, server_default="60")
    )
    op.add_column(
        "events", sa.Column("pow_difficulty", sa.Integer, nullable=False, server_default="0")
    )
    op.create_table(
        "draws",
        sa.Column("event_id", sa.Text, sa.ForeignKey("events.id"), primary_key=True),
        sa.Column("commitment", sa.Text, nullable=False),
        sa.Column("seed", sa.Text, nullable=False),
        sa.Column("entries", JSONB),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("drawn_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("draws")
    op.drop_column("events", "pow_difficulty")
    op.drop_column("events", "absent_grace_seconds")
