"""dispense owner: the kiosk socket a dispense was commanded to

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 19:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dispenses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("connection_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dispenses", schema=None) as batch_op:
        batch_op.drop_column("connection_id")
