"""the owner's catalog: a product's description and category, and archived products

An archived product has left sale for good (it is never shown again) but stays on the orders and
in the reports that name it, so it is kept, not deleted.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("products") as table:
        table.add_column(sa.Column("description", sa.Text(), nullable=True))
        table.add_column(sa.Column("category", sa.String(64), nullable=True))
        table.add_column(
            sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("products") as table:
        table.drop_column("archived")
        table.drop_column("category")
        table.drop_column("description")
