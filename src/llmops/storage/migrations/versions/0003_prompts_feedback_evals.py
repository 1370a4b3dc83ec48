"""Prompt labels and their history, feedback, eval runs and results.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "prompt_labels",
        sa.Column("prompt_name", sa.String(128), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("version_id", sa.String(128), nullable=False),
        sa.Column("traffic_share", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("prompt_name", "label", name="pk_prompt_labels"),
    )
    op.create_table(
        "prompt_label_history",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("prompt_name", sa.String(128), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("version_id", sa.String(128), nullable=True),
        sa.Column("previous_version_id", sa.String(128), nullable=True),
        sa.Column("traffic_share", sa.Float(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_label_history"),
    )
    op.create_index(
        "ix_prompt_label_history_prompt_name_label_changed_at",
        "prompt_label_history",
        ["prompt_name", "label", "changed_at"],
    )
    op.create_table(
        "feedback",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revisions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.UniqueConstraint("request_id", name="uq_feedback_request_id"),
    )
    op.create_index("ix_feedback_created_at", "feedback", ["created_at"])
    op.create_index("ix_feedback_rating_created_at", "feedback", ["rating", "created_at"])
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("dataset", sa.String(256), nullable=False),
        sa.Column("dataset_hash", sa.String(64), nullable=False),
        sa.Column("prompt_version", sa.String(128), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_eval_runs"),
    )
    op.create_index("ix_eval_runs_started_at", "eval_runs", ["started_at"])
    op.create_table(
        "eval_results",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(128), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("scores", sa.Text(), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("trace_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "case_id", name="pk_eval_results"),
    )


def downgrade() -> None:
    op.drop_table("eval_results")
    op.drop_index("ix_eval_runs_started_at", table_name="eval_runs")
    op.drop_table("eval_runs")
    op.drop_index("ix_feedback_rating_created_at", table_name="feedback")
    op.drop_index("ix_feedback_created_at", table_name="feedback")
    op.drop_table("feedback")
    op.drop_index("ix_prompt_label_history_prompt_name_label_changed_at", table_name="prompt_label_history")
    op.drop_table("prompt_label_history")
    op.drop_table("prompt_labels")
