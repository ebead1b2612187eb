"""The language an event's fan page opens in.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("language", sa.Text, nullable=False, server_default="en"))


def downgrade() -> None:
    op.drop_column("events", "language")
