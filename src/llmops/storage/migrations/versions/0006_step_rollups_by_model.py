"""Step rollups are keyed by model and provider too, so the report and the dashboard can filter the
step breakdown the way they filter requests. Rows written before this revision cannot be split and
keep model and provider ''.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_KEY = ["hour", "name", "prompt_version"]
NEW_KEY = [*OLD_KEY, "model", "provider"]


def upgrade() -> None:
    with op.batch_alter_table("step_rollups", recreate="always") as batch:
        batch.add_column(sa.Column("model", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("provider", sa.String(64), nullable=False, server_default=""))
        batch.drop_constraint("pk_step_rollups", type_="primary")
        batch.create_primary_key("pk_step_rollups", NEW_KEY)


def downgrade() -> None:
    # Rows that differ only by model or provider are summed back into one before the key narrows.
    counters = _counters()
    table = sa.table("step_rollups", *(sa.column(name) for name in [*NEW_KEY, *counters]))
    key = [table.c[name] for name in OLD_KEY]
    merged = (
        op.get_bind()
        .execute(
            sa.select(*key, *(sa.func.sum(table.c[name]).label(name) for name in counters)).group_by(*key)
        )
        .mappings()
        .all()
    )
    op.execute(table.delete())
    with op.batch_alter_table("step_rollups", recreate="always") as batch:
        batch.drop_constraint("pk_step_rollups", type_="primary")
        batch.drop_column("model")
        batch.drop_column("provider")
        batch.create_primary_key("pk_step_rollups", OLD_KEY)
    if merged:
        narrowed = sa.table("step_rollups", *(sa.column(name) for name in [*OLD_KEY, *counters]))
        op.bulk_insert(narrowed, [dict(row) for row in merged])


def _counters() -> list[str]:
    from llmops.storage.histogram import COLUMNS

    return ["calls", "errors", "duration_sum_ms", *COLUMNS]
