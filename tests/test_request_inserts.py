"""The driver path for new request rows stores exactly what the Core path stores, rows and rollups,
and writes nothing when any row of the batch is not new."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select

from llmops.storage.request_inserts import insert_new_requests
from llmops.storage.tables import EVAL_SOURCE, GATEWAY_SOURCE, request_rollups, requests
from llmops.storage.trace_store import RequestRecord, write_requests

T0 = datetime(2026, 3, 10, 9, 15, 7, 123456, tzinfo=UTC)


def _records(prefix: str) -> list[RequestRecord]:
    base = RequestRecord(
        request_id=f"{prefix}-0",
        trace_id="a" * 32,
        span_id="b" * 16,
        created_at=T0,
        user_id="u_0123456789abcdef0123",
        prompt_name="",
        prompt_version="v7",
        model="gpt-4o-mini",
        provider="openai",
        status="ok",
        http_status=200,
        latency_ms=12.5,
        input_tokens=31,
        output_tokens=64,
        cost_usd=0.000123,
        price_source="genai-prices",
        retries=0,
        degraded=False,
        degraded_reason=None,
        category=None,
        error_type=None,
        source=GATEWAY_SOURCE,
        session_id="session-1",
        model_alias="gpt-4o-mini",
    )
    return [
        base,
        dataclasses.replace(
            base,
            request_id=f"{prefix}-1",
            span_id="c" * 16,
            created_at=T0 + timedelta(hours=1, microseconds=1),
            status="error",
            http_status=None,
            cost_usd=None,
            retries=2,
            degraded=True,
            degraded_reason="fallback",
            error_type="timeout",
            session_id=None,
        ),
        dataclasses.replace(base, request_id=f"{prefix}-2", span_id="d" * 16, source=EVAL_SOURCE),
    ]


def _stored(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows without their ids (request and surrogate), and the rollups, in a stable order."""
    columns = [column for column in requests.c if column.name not in ("id", "request_id")]
    with engine.connect() as connection:
        rows = connection.execute(select(*columns).order_by(requests.c.span_id)).all()
        rollups = connection.execute(select(request_rollups).order_by(request_rollups.c.hour)).all()
    return [tuple(row) for row in rows], [tuple(row) for row in rollups]


def _clear(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(delete(requests))
        connection.execute(delete(request_rollups))


def test_the_driver_path_stores_what_the_core_path_stores(migrated_engine: Engine) -> None:
    with migrated_engine.begin() as connection:
        assert len(write_requests(connection, _records("core"))) == 3
    expected = _stored(migrated_engine)
    _clear(migrated_engine)

    assert insert_new_requests(migrated_engine, _records("driver"))
    assert _stored(migrated_engine) == expected
    assert len(expected[1]) == 2  # two hours of live rows; the eval row is not counted


def test_a_batch_with_a_taken_id_writes_nothing(migrated_engine: Engine) -> None:
    first, second, third = _records("req")
    assert insert_new_requests(migrated_engine, [first])
    before = _stored(migrated_engine)

    assert not insert_new_requests(migrated_engine, [second, dataclasses.replace(third, request_id="req-0")])
    assert not insert_new_requests(migrated_engine, [second, dataclasses.replace(third, request_id="req-1")])
    assert _stored(migrated_engine) == before
