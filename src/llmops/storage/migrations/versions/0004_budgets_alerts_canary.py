"""Budgets and usage buckets, alert rules/states/events, canary decisions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("window", sa.String(8), nullable=False),
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("hard_limit", sa.Float(), nullable=False),
        sa.Column("soft_ratio", sa.Float(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_budgets"),
        sa.UniqueConstraint(
            "scope", "subject", "window", "metric", name="uq_budgets_scope_subject_window_metric"
        ),
    )
    op.create_table(
        "budget_usage",
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("granularity", sa.String(8), nullable=False),
        sa.Column("bucket_start", TZ, nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("reserved_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reserved_cost_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "subject", "granularity", "bucket_start", name="pk_budget_usage"),
    )
    op.create_table(
        "alert_rules",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("min_requests", sa.Integer(), nullable=False),
        sa.Column("renotify_s", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_rules"),
        sa.UniqueConstraint("name", name="uq_alert_rules_name"),
    )
    op.create_table(
        "alert_states",
        sa.Column("rule_name", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", TZ, nullable=False),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("last_notified_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("rule_name", name="pk_alert_states"),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("rule_name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
    )
    op.create_index("ix_alert_events_rule_name_created_at", "alert_events", ["rule_name", "created_at"])
    op.create_table(
        "canary_decisions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("prompt_name", sa.String(128), nullable=False),
        sa.Column("canary_version", sa.String(128), nullable=False),
        sa.Column("production_version", sa.String(128), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_canary_decisions"),
    )
    op.create_index(
        "ix_canary_decisions_prompt_name_created_at", "canary_decisions", ["prompt_name", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_canary_decisions_prompt_name_created_at", table_name="canary_decisions")
    op.drop_table("canary_decisions")
    op.drop_index("ix_alert_events_rule_name_created_at", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_table("alert_states")
    op.drop_table("alert_rules")
    op.drop_table("budget_usage")
    op.drop_table("budgets")
