"""Venue keys that can be rotated and revoked: each key's non-secret prefix,
its expiry (the end of a rotated key's grace) and when it was last used.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns without defaults: adding them rewrites no row, and the
    # keys made before keep working unchanged (no expiry, no prefix known).
    op.add_column("venue_keys", sa.Column("prefix", sa.Text))
    op.add_column("venue_keys", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("venue_keys", sa.Column("last_used_at", sa.DateTime(timezone=True)))
    op.create_index("venue_keys_venue", "venue_keys", ["venue_id"])


def downgrade() -> None:
    # Before 0006 a key had no expiry: a rotated key would live again for
    # ever. Revoke those instead (the code before 0006 only asks "revoked?").
    op.execute(
        "UPDATE venue_keys SET revoked_at = expires_at "
        "WHERE expires_at IS NOT NULL AND revoked_at IS NULL"
    )
    op.drop_index("venue_keys_venue", table_name="venue_keys")
    op.drop_column("venue_keys", "last_used_at")
    op.drop_column("venue_keys", "expires_at")
    op.drop_column("venue_keys", "prefix")
