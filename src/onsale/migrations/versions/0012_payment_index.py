"""Index the payments a checkout retry may reuse.

``payment_repo.reusable_payment`` runs at every checkout: an authorized
payment with this idempotency key and hold that has no order yet. The
planner read it through ``ix_payments_order_id`` (the ``order_id IS NULL``
condition), walking every payment without an order: ~1,400 index entries a
checkout in the benchmark, growing with the table. This partial index holds
only the payments that can match (authorized, no order: a handful at any
moment, each leaves it when its order is written or it is captured), keyed
by the query's equality columns, so the lookup reads one or two entries
whatever the size of the table.

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0008"
branch_labels = None
depends_on = None

# IF NOT EXISTS: safe to run again (tests replay a revision alone).
CREATE = (
    "CREATE INDEX IF NOT EXISTS payments_reusable ON payments"
    " (idempotency_key, hold_id, created_at) WHERE status = 'authorized' AND order_id IS NULL"
)


def upgrade() -> None:
    op.execute(sa.text(CREATE))


def downgrade() -> None:
    op.execute(sa.text("DROP INDEX IF EXISTS payments_reusable"))
