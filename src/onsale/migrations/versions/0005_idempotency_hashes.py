"""Clear the idempotency hashes written before keyed hashing.

Those hashes were plain SHA-256 of the checkout body, card number included,
stored beside the card's last four digits: a loop over the missing digits
recovered the number. Each is replaced by "" (``checkout.idempotency.CLEARED``),
which matches any request with that row's key, so a late retry of an old
checkout still gets its order (the key is the client's random id; nothing
else shares it). The rows themselves stay: those that hold an order keep it,
the others age out with the reconciler's expiry.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("UPDATE idempotency SET request_hash = '' WHERE request_hash <> ''"))


def downgrade() -> None:
    pass  # the old hashes are gone on purpose; "" still matches as before
