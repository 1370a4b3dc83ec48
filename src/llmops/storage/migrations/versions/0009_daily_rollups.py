"""Daily rollups: the hourly rollups' counters summed per UTC day, so long windows (30 days, all time)
read a few dozen rows per key instead of hundreds. Backfilled from the hourly rows, which stay.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

HISTOGRAM = [f"h{i:02d}" for i in range(62)]
REQUEST_KEY = ["prompt_version", "model", "provider", "assistant"]
REQUEST_SUMS = [
    "requests",
    "errors",
    "degraded",
    "retries",
    "input_tokens",
    "output_tokens",
    "priced",
    "cost_usd",
    "latency_sum_ms",
]
STEP_KEY = ["name", "prompt_version", "model", "provider", "assistant"]
STEP_SUMS = ["calls", "errors", "duration_sum_ms"]


def _histogram() -> list[sa.Column[int]]:
    return [sa.Column(name, sa.Integer(), nullable=False, server_default="0") for name in HISTOGRAM]


def upgrade() -> None:
    op.create_table(
        "request_rollups_daily",
        sa.Column("day", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prompt_version", sa.String(128), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("assistant", sa.String(128), nullable=False, server_default="email_gatekeeper"),
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
        sa.PrimaryKeyConstraint("day", *REQUEST_KEY, name="pk_request_rollups_daily"),
    )
    op.create_table(
        "step_rollups_daily",
        sa.Column("day", sa.DateTime(timezone=True), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("prompt_version", sa.String(128), nullable=False),
        sa.Column("model", sa.String(200), nullable=False, server_default=""),
        sa.Column("provider", sa.String(64), nullable=False, server_default=""),
        sa.Column("assistant", sa.String(128), nullable=False, server_default="email_gatekeeper"),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("duration_sum_ms", sa.Float(), nullable=False),
        *_histogram(),
        sa.PrimaryKeyConstraint("day", *STEP_KEY, name="pk_step_rollups_daily"),
    )
    _backfill("request_rollups", REQUEST_KEY, REQUEST_SUMS)
    _backfill("step_rollups", STEP_KEY, STEP_SUMS)


def _backfill(hourly: str, key: list[str], sums: list[str]) -> None:
    """Sum the stored hour rows into day rows, in one INSERT … SELECT."""
    counters = [*sums, *HISTOGRAM]
    source = sa.table(
        hourly, sa.column("hour", sa.DateTime(timezone=True)), *map(sa.column, [*key, *counters])
    )
    target = sa.table(f"{hourly}_daily", *map(sa.column, ["day", *key, *counters]))
    day = _day_of(source.c.hour).label("day")
    dimensions = [source.c[name] for name in key]
    query = sa.select(day, *dimensions, *(sa.func.sum(source.c[name]) for name in counters)).group_by(
        day, *dimensions
    )
    op.execute(target.insert().from_select(["day", *key, *counters], query))


def _day_of(hour: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The UTC midnight of an hour, as each backend stores it (SQLite: 'YYYY-MM-DD HH:MM:SS.ffffff')."""
    if op.get_bind().dialect.name == "postgresql":
        return sa.func.date_trunc("day", hour, "UTC")
    return sa.func.substr(hour, 1, 10).concat(" 00:00:00.000000")


def downgrade() -> None:
    op.drop_table("step_rollups_daily")
    op.drop_table("request_rollups_daily")
