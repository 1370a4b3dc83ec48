"""Requests record where they came from: live API traffic or an in-process eval run.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("requests", sa.Column("source", sa.String(8), nullable=False, server_default="api"))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("source")
