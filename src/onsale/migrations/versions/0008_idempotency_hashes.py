"""Clear the idempotency hashes written before keyed hashing; index the rows
the reconciler looks for.

Those hashes were plain SHA-256 of the checkout body, card number included,
stored beside the card's last four digits: a loop over the missing digits
recovered the number. Each is replaced by "" (``checkout.idempotency.CLEARED``),
which matches any request with that row's key, so a late retry of an old
checkout still gets its order (the key is the client's random id; nothing
else shares it). The rows themselves stay: those that hold an order keep it,
the others age out with the reconciler's expiry.

Rows whose answer is an order stay as long as the order, so the table grows
with the sales: the reconciler's two sweeps (claims that died, old answers
that were not orders) read partial indexes of the few rows they want instead
of the whole table every few seconds.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


# IF NOT EXISTS: safe to run again (tests replay this revision alone).
INDEXES = {
    "idempotency_in_progress": "(updated_at) WHERE state = 'in_progress'",
    "idempotency_expiring": "(created_at) WHERE state = 'done' AND status_code <> 201",
}


def upgrade() -> None:
    op.execute(sa.text("UPDATE idempotency SET request_hash = '' WHERE request_hash <> ''"))
    for name, how in INDEXES.items():
        op.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {name} ON idempotency {how}"))


def downgrade() -> None:
    # The old hashes are gone on purpose ("" still matches as before).
    for name in INDEXES:
        op.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
