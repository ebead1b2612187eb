"""How long an admitted shopper may be unseen before their slot frees
(``admission.shopper_grace_seconds``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "events",
        sa.Column("shopper_grace_seconds", sa.Integer, nullable=False, server_default="20"),
    )


def downgrade() -> None:
    op.drop_column("events", "shopper_grace_seconds")
