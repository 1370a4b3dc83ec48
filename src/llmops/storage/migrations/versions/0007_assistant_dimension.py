"""Requests know which assistant (or ingested service) they belong to and their session, and the
rollups are keyed by assistant, so every report, chart and alert can be narrowed to one of them.
Rows written before this revision belong to the Email Gatekeeper (`email_gatekeeper`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

GATEKEEPER = "email_gatekeeper"
REQUEST_KEY = ["hour", "prompt_version", "model", "provider"]
STEP_KEY = ["hour", "name", "prompt_version", "model", "provider"]


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("assistant", sa.String(128), nullable=False, server_default=GATEKEEPER))
        batch.add_column(sa.Column("session_id", sa.String(128), nullable=True))
    op.create_index("ix_requests_assistant_created_at", "requests", ["assistant", "created_at"])
    op.create_index("ix_requests_session_id", "requests", ["session_id"])
    for table, key in (("request_rollups", REQUEST_KEY), ("step_rollups", STEP_KEY)):
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.add_column(
                sa.Column("assistant", sa.String(128), nullable=False, server_default=GATEKEEPER)
            )
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", [*key, "assistant"])


def downgrade() -> None:
    from llmops.storage.histogram import COLUMNS

    sums = {
        "request_rollups": [
            "requests", "errors", "degraded", "retries", "input_tokens", "output_tokens", "priced",
            "cost_usd", "latency_sum_ms",
        ],
        "step_rollups": ["calls", "errors", "duration_sum_ms"],
    }  # fmt: skip
    for table_name, key in (("request_rollups", REQUEST_KEY), ("step_rollups", STEP_KEY)):
        counters = [*sums[table_name], *COLUMNS]
        table = sa.table(table_name, *(sa.column(name) for name in [*key, "assistant", *counters]))
        columns = [table.c[name] for name in key]
        merged = (
            op.get_bind()
            .execute(
                sa.select(*columns, *(sa.func.sum(table.c[name]).label(name) for name in counters)).group_by(
                    *columns
                )
            )
            .mappings()
            .all()
        )
        op.execute(table.delete())
        with op.batch_alter_table(table_name, recreate="always") as batch:
            batch.drop_constraint(f"pk_{table_name}", type_="primary")
            batch.drop_column("assistant")
            batch.create_primary_key(f"pk_{table_name}", key)
        if merged:
            narrowed = sa.table(table_name, *(sa.column(name) for name in [*key, *counters]))
            op.bulk_insert(narrowed, [dict(row) for row in merged])
    op.drop_index("ix_requests_session_id", "requests")
    op.drop_index("ix_requests_assistant_created_at", "requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("session_id")
        batch.drop_column("assistant")
