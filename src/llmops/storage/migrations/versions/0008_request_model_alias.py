"""Gateway request rows record the alias that served them, so a model canary's two arms can be compared
from the rows (`llmops.canary.models`).

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


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("model_alias", sa.String(256), nullable=True))
    op.create_index("ix_requests_model_alias_created_at", "requests", ["model_alias", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_requests_model_alias_created_at", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("model_alias")
