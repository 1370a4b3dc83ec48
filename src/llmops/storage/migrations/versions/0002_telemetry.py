"""Telemetry store: requests, spans, hourly rollups, service state.

Rollups carry one count column per latency bucket (62 log-spaced buckets, see `storage/histogram.py`)
so concurrent writers can increment them with a single atomic upsert.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

HISTOGRAM_BUCKETS = 62


def _histogram() -> list[sa.Column[int]]:
    return [
        sa.Column(f"h{i:02d}", sa.Integer(), nullable=False, server_default="0")
        for i in range(HISTOGRAM_BUCKETS)
    ]


def upgrade() -> None:
    op.create_table(
        "requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("prompt_name", sa.String(128), nullable=False),
        sa.Column("prompt_version", sa.String(128), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("price_source", sa.String(32), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("degraded", sa.Boolean(), nullable=False),
        sa.Column("degraded_reason", sa.String(128), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("error_type", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_requests"),
        sa.UniqueConstraint("request_id", name="uq_requests_request_id"),
    )
    op.create_index("ix_requests_created_at", "requests", ["created_at"])
    op.create_index("ix_requests_prompt_version_created_at", "requests", ["prompt_version", "created_at"])
    op.create_index("ix_requests_trace_id", "requests", ["trace_id"])

    op.create_table(
        "spans",
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("span_id", sa.String(16), nullable=False),
        sa.Column("parent_span_id", sa.String(16), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status_code", sa.String(8), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name="pk_spans"),
    )
    op.create_index("ix_spans_start_time", "spans", ["start_time"])
    op.create_index("ix_spans_request_id", "spans", ["request_id"])

    op.create_table(
        "request_rollups",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prompt_version", sa.String(128), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("degraded", sa.Integer(), nullable=False),
        sa.Column("retries", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("priced", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("latency_sum_ms", sa.Float(), nullable=False),
        *_histogram(),
        sa.PrimaryKeyConstraint("hour", "prompt_version", "model", "provider", name="pk_request_rollups"),
    )

    op.create_table(
        "step_rollups",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("prompt_version", sa.String(128), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("duration_sum_ms", sa.Float(), nullable=False),
        *_histogram(),
        sa.PrimaryKeyConstraint("hour", "name", "prompt_version", name="pk_step_rollups"),
    )

    op.create_table(
        "service_state",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_service_state"),
    )


def downgrade() -> None:
    op.drop_table("service_state")
    op.drop_table("step_rollups")
    op.drop_table("request_rollups")
    op.drop_index("ix_spans_request_id", table_name="spans")
    op.drop_index("ix_spans_start_time", table_name="spans")
    op.drop_table("spans")
    op.drop_index("ix_requests_trace_id", table_name="requests")
    op.drop_index("ix_requests_prompt_version_created_at", table_name="requests")
    op.drop_index("ix_requests_created_at", table_name="requests")
    op.drop_table("requests")
