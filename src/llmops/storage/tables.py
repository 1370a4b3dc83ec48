"""Table definitions (SQLAlchemy Core). Alembic migrations under `migrations/` create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from llmops.storage.histogram import COLUMNS as HISTOGRAM_COLUMNS

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


DEFAULT_ASSISTANT = "email_gatekeeper"  # the bundled assistant; rows from before the dimension are its

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")

requests = Table(
    "requests",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("user_id", String(64), nullable=True),
    Column("prompt_name", String(128), nullable=False),
    Column("prompt_version", String(128), nullable=False),
    Column("model", String(200), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("http_status", Integer, nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=True),
    Column("price_source", String(32), nullable=True),
    Column("retries", Integer, nullable=False),
    Column("degraded", Boolean, nullable=False),
    Column("degraded_reason", String(128), nullable=True),
    Column("category", String(32), nullable=True),
    Column("error_type", String(128), nullable=True),
    Column("source", String(8), nullable=False, server_default="api"),
    Column("assistant", String(128), nullable=False, server_default=DEFAULT_ASSISTANT),
    Column("session_id", String(128), nullable=True),
    # The gateway alias that served a call (the canary's alias for its canary arm); null elsewhere.
    Column("model_alias", String(256), nullable=True),
    Index("ix_requests_created_at", "created_at"),
    Index("ix_requests_prompt_version_created_at", "prompt_version", "created_at"),
    Index("ix_requests_trace_id", "trace_id"),
    Index("ix_requests_assistant_created_at", "assistant", "created_at"),
    Index("ix_requests_session_id", "session_id"),
    Index("ix_requests_model_alias_created_at", "model_alias", "created_at"),
)

# Where a request came from: a hosted assistant's API, the OpenAI-compatible gateway, OTLP ingest, or
# an eval run. Eval cases are stored as requests so their traces open like any other, but they are not
# users' traffic: rollups, reports, alerts and canary figures count live rows only.
API_SOURCE, GATEWAY_SOURCE, INGEST_SOURCE, EVAL_SOURCE = "api", "gateway", "ingest", "eval"
SOURCES = (API_SOURCE, GATEWAY_SOURCE, INGEST_SOURCE, EVAL_SOURCE)
LIVE_TRAFFIC = requests.c.source != EVAL_SOURCE

spans = Table(
    "spans",
    metadata,
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("parent_span_id", String(16), nullable=True),
    Column("request_id", String(128), nullable=True),
    Column("name", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("status_code", String(8), nullable=False),
    Column("status_message", Text, nullable=True),
    Column("attributes", Text, nullable=False),
    Column("events", Text, nullable=False),
    PrimaryKeyConstraint("trace_id", "span_id", name="pk_spans"),
    Index("ix_spans_start_time", "start_time"),
    Index("ix_spans_request_id", "request_id"),
)


def _histogram() -> list[Column[int]]:
    return [Column(name, Integer, nullable=False, server_default="0") for name in HISTOGRAM_COLUMNS]


def _request_rollup_table(name: str, period: str) -> Table:
    """Request counters per `period` ("hour" or "day", its UTC start), version, model, provider, assistant."""
    return Table(
        name,
        metadata,
        Column(period, DateTime(timezone=True), nullable=False),
        Column("prompt_version", String(128), nullable=False),
        Column("model", String(200), nullable=False),
        Column("provider", String(64), nullable=False),
        Column("assistant", String(128), nullable=False, server_default=DEFAULT_ASSISTANT),
        Column("requests", Integer, nullable=False),
        Column("errors", Integer, nullable=False),
        Column("degraded", Integer, nullable=False),
        Column("retries", BigInteger, nullable=False),
        Column("input_tokens", BigInteger, nullable=False),
        Column("output_tokens", BigInteger, nullable=False),
        Column("priced", Integer, nullable=False),
        Column("cost_usd", Float, nullable=False),
        Column("latency_sum_ms", Float, nullable=False),
        *_histogram(),
        PrimaryKeyConstraint(period, "prompt_version", "model", "provider", "assistant", name=f"pk_{name}"),
    )


def _step_rollup_table(name: str, period: str) -> Table:
    """Step (child span) counters per `period`, step name and the request's version, model, provider,
    assistant."""
    return Table(
        name,
        metadata,
        Column(period, DateTime(timezone=True), nullable=False),
        Column("name", String(256), nullable=False),
        Column("prompt_version", String(128), nullable=False),
        Column("model", String(200), nullable=False, server_default=""),
        Column("provider", String(64), nullable=False, server_default=""),
        Column("assistant", String(128), nullable=False, server_default=DEFAULT_ASSISTANT),
        Column("calls", Integer, nullable=False),
        Column("errors", Integer, nullable=False),
        Column("duration_sum_ms", Float, nullable=False),
        *_histogram(),
        PrimaryKeyConstraint(
            period, "name", "prompt_version", "model", "provider", "assistant", name=f"pk_{name}"
        ),
    )


# Hourly rollups, and the same counters per UTC day (migration 0009) so a 30-day or all-time window
# sums a few dozen day rows per key instead of hundreds of hour rows. Both are written in the same
# transaction as the request row, so they always agree.
request_rollups = _request_rollup_table("request_rollups", "hour")
step_rollups = _step_rollup_table("step_rollups", "hour")
request_rollups_daily = _request_rollup_table("request_rollups_daily", "day")
step_rollups_daily = _step_rollup_table("step_rollups_daily", "day")

service_state = Table(
    "service_state",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


# Prompt labels point at immutable prompt versions; every move is kept in the history.
prompt_labels = Table(
    "prompt_labels",
    metadata,
    Column("prompt_name", String(128), nullable=False),
    Column("label", String(64), nullable=False),
    Column("version_id", String(128), nullable=False),
    Column("traffic_share", Float, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    PrimaryKeyConstraint("prompt_name", "label"),
)

prompt_label_history = Table(
    "prompt_label_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("prompt_name", String(128), nullable=False),
    Column("label", String(64), nullable=False),
    Column("version_id", String(128), nullable=True),
    Column("previous_version_id", String(128), nullable=True),
    Column("traffic_share", Float, nullable=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("changed_by", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_prompt_label_history_prompt_name_label_changed_at", "prompt_name", "label", "changed_at"),
)

# One feedback row per request: a repeated rating replaces the previous one (revisions counts them).
feedback = Table(
    "feedback",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False, unique=True),
    Column("rating", Integer, nullable=False),
    Column("notes", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("revisions", Integer, nullable=False),
    Index("ix_feedback_created_at", "created_at"),
    Index("ix_feedback_rating_created_at", "rating", "created_at"),
)

eval_runs = Table(
    "eval_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("dataset", String(256), nullable=False),
    Column("dataset_hash", String(64), nullable=False),
    Column("prompt_version", String(128), nullable=False),
    Column("target", String(512), nullable=False),
    Column("provider", String(64), nullable=True),
    Column("model", String(200), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status", String(16), nullable=False),
    Column("cases", Integer, nullable=False),
    Column("passed", Integer, nullable=False),
    Column("summary", Text, nullable=False),
    Index("ix_eval_runs_started_at", "started_at"),
)

eval_results = Table(
    "eval_results",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("case_id", String(128), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("score", Float, nullable=False),
    Column("critical", Boolean, nullable=False),
    Column("scores", Text, nullable=False),
    Column("output", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("latency_ms", Float, nullable=True),
    Column("input_tokens", Integer, nullable=True),
    Column("output_tokens", Integer, nullable=True),
    Column("cost_usd", Float, nullable=True),
    Column("request_id", String(128), nullable=True),
    Column("trace_id", String(32), nullable=True),
    PrimaryKeyConstraint("run_id", "case_id"),
)


# Budgets: caps per scope (global, user, api_key) and rolling window, with usage counted in buckets.
budgets = Table(
    "budgets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("scope", String(16), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("window", String(8), nullable=False),
    Column("metric", String(16), nullable=False),
    Column("hard_limit", Float, nullable=False),
    Column("soft_ratio", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("scope", "subject", "window", "metric"),
)

budget_usage = Table(
    "budget_usage",
    metadata,
    Column("scope", String(16), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("granularity", String(8), nullable=False),
    Column("bucket_start", DateTime(timezone=True), nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("reserved_tokens", BigInteger, nullable=False),
    Column("reserved_cost_usd", Float, nullable=False),
    PrimaryKeyConstraint("scope", "subject", "granularity", "bucket_start"),
)


# Alert rules, their current state (one row per rule) and every transition or notification as an event.
alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("params", Text, nullable=False),
    Column("window_s", Integer, nullable=False),
    Column("min_requests", Integer, nullable=False),
    Column("renotify_s", Integer, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

alert_states = Table(
    "alert_states",
    metadata,
    Column("rule_name", String(128), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("last_value", Float, nullable=True),
    Column("last_notified_at", DateTime(timezone=True), nullable=True),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rule_name", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("details", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Index("ix_alert_events_rule_name_created_at", "rule_name", "created_at"),
)

# Canary decisions: promote, roll back or hold, with the figures they were made on.
canary_decisions = Table(
    "canary_decisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("prompt_name", String(128), nullable=False),
    Column("canary_version", String(128), nullable=False),
    Column("production_version", String(128), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("figures", Text, nullable=False),
    Column("decided_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_canary_decisions_prompt_name_created_at", "prompt_name", "created_at"),
)

# Cases labelled on the dashboard's /annotate page, by dataset name: every replica writes and reads the
# same rows (`llmops.evals.case_store`); `llmops eval export NAME` writes them as a dataset file. `case`
# is the case's JSON line, rebuilt from the stored (redacted) trace and redacted again.
labelled_cases = Table(
    "labelled_cases",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("dataset", String(64), nullable=False),
    Column("case_id", String(128), nullable=False),
    Column("assistant", String(128), nullable=False),
    Column("case", Text, nullable=False),
    Column("labelled_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("dataset", "case_id"),
)
