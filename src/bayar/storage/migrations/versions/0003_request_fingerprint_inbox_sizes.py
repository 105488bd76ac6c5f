"""money safety (core): request fingerprints, inbox body sizes

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("request_fingerprint", sa.String(length=64), nullable=True))
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("body_bytes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("body_bytes")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("request_fingerprint")
