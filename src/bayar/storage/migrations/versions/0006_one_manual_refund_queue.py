"""one manual-refund queue: a kiosk unit's refund waiting for a person is a `manual` refund row

Before, a kiosk unit whose refund the gateway refused was queued as its dispense alone
(`manual_refund`, its refund row `failed`), and resolving it by hand added a `manual-<order>`
refund row. Now the queue is the `manual` refund rows, shop and kiosk alike: bring the waiting
ones in (the refused row becomes `manual`, or one is made for what the order still owes), and let
the ones resolved earlier say they were refunded by hand, as the admin's page lists them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 20:30:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    now = sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True))
    # The refused refund of a waiting unit is the one a person now makes.
    op.execute(
        sa.text(
            "UPDATE refunds SET status = 'manual', updated_at = :now"
            " WHERE status = 'failed' AND refund_key IN"
            " (SELECT 'dispense-' || d.order_id FROM dispenses d"
            "  WHERE d.status = 'manual_refund')"
        ).bindparams(now)
    )
    # A waiting unit with no refund row under its key (its refund was refused before it was
    # asked of the gateway): one for what the order still owes.
    op.execute(
        sa.text(
            "INSERT INTO refunds"
            " (order_id, refund_key, amount, reason, status, detail, created_at, updated_at)"
            " SELECT d.order_id, 'dispense-' || d.order_id,"
            " o.gross_amount - COALESCE((SELECT SUM(s.amount) FROM refunds s"
            "  WHERE s.order_id = d.order_id AND s.status = 'succeeded'), 0),"
            " 'dispense failed', 'manual',"
            " 'queued for a person before refunds had one queue', :now, :now"
            " FROM dispenses d JOIN orders o ON o.id = d.order_id"
            " WHERE d.status = 'manual_refund'"
            " AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.order_id = d.order_id"
            "  AND (r.status = 'manual' OR r.refund_key = 'dispense-' || d.order_id))"
            " AND o.gross_amount > COALESCE((SELECT SUM(s.amount) FROM refunds s"
            "  WHERE s.order_id = d.order_id AND s.status = 'succeeded'), 0)"
        ).bindparams(now)
    )
    # Resolved by hand before: the note was kept as the reason.
    op.execute(
        "UPDATE refunds SET detail = reason WHERE status = 'succeeded'"
        " AND refund_key LIKE 'manual-%' AND reason LIKE 'refunded by hand%'"
    )


def downgrade() -> None:
    """Data only: the rows stay as they are (the older code reads `manual` rows too)."""
