"""Labelled cases in the database (the dashboard's /annotate page), so labels made on any replica land
in one place.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "labelled_cases",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("dataset", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(128), nullable=False),
        sa.Column("assistant", sa.String(128), nullable=False),
        sa.Column("case", sa.Text(), nullable=False),
        sa.Column("labelled_by", sa.String(128), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_labelled_cases"),
        sa.UniqueConstraint("dataset", "case_id", name="uq_labelled_cases_dataset_case_id"),
    )


def downgrade() -> None:
    op.drop_table("labelled_cases")
