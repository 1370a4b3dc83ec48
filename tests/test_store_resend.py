"""Batches written again (after a failed try, overlapping a stored one, larger than a page) through the
driver-level bulk writes: each span stored once, each request and step counted once, on SQLite and Postgres;
and the store-write benchmark stays runnable."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from llmops.storage.tables import request_rollups, requests, spans, step_rollups
from llmops.storage.trace_store import RequestRecord, write_batch, write_request, write_requests
from llmops.telemetry.store_exporter import StoreExporter
from store_traces import Req, capture

T0 = datetime(2026, 3, 10, 9, 15, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


class Rollback(Exception):
    """Raised inside a transaction after its writes, so they are rolled back."""


def _totals(engine: Engine) -> tuple[int, int, int, int]:
    """(span rows, request rows, requests in rollups, step calls in rollups)."""
    with engine.connect() as connection:
        return (
            connection.execute(select(func.count()).select_from(spans)).scalar_one(),
            connection.execute(select(func.count()).select_from(requests)).scalar_one(),
            connection.execute(select(func.sum(request_rollups.c.requests))).scalar_one() or 0,
            connection.execute(select(func.sum(step_rollups.c.calls))).scalar_one() or 0,
        )


def test_a_batch_resent_after_a_failed_try_and_a_partial_store_counts_everything_once(
    migrated_engine: Engine,
) -> None:
    reqs = [
        Req(T0 + timedelta(seconds=i), f"req-{i}", tools=[("lookup_contact", 5), ("check_calendar", 7)])
        for i in range(6)
    ]
    span_records, request_records = StoreExporter.records(capture(reqs))  # 3 spans a request, root last
    assert len(span_records) == 18

    # A first try writes the whole batch, then its transaction fails: nothing may remain.
    with pytest.raises(Rollback), migrated_engine.begin() as connection:
        write_batch(connection, span_records, request_records)
        raise Rollback
    assert _totals(migrated_engine) == (0, 0, 0, 0)

    # An earlier, smaller export got through: two whole requests and the first child of a third.
    with migrated_engine.begin() as connection:
        write_batch(connection, span_records[:7], request_records[:2])
    assert _totals(migrated_engine) == (7, 2, 2, 4)
    # The request path stored one more request row before its spans were exported.
    with migrated_engine.begin() as connection:
        assert write_request(connection, request_records[4])

    # The whole batch again, one span twice within it.
    with migrated_engine.begin() as connection:
        result = write_batch(connection, [*span_records, span_records[10]], request_records)

    assert (result.spans_inserted, result.requests_inserted, result.requests_skipped) == (11, 3, 3)
    assert result.steps_attributed == 8  # the waiting child of req-2 and the seven new children
    assert _totals(migrated_engine) == (18, 6, 6, 12)
    with migrated_engine.connect() as connection:
        attributed = dict(connection.execute(select(spans.c.span_id, spans.c.request_id)).all())
    request_of_trace = {record.trace_id: record.request_id for record in request_records}
    assert attributed == {span.span_id: request_of_trace[span.trace_id] for span in span_records}

    # And once more, all of it: nothing changes.
    with migrated_engine.begin() as connection:
        again = write_batch(connection, span_records, request_records)
    assert (again.spans_inserted, again.requests_inserted, again.steps_attributed) == (0, 0, 0)
    assert _totals(migrated_engine) == (18, 6, 6, 12)


def _request(index: int, request_id: str | None = None) -> RequestRecord:
    (record,) = StoreExporter.records(capture([Req(T0, f"req-{index}")]))[1]
    return replace(record, request_id=request_id or record.request_id)


def test_write_requests_over_several_pages_returns_exactly_the_rows_it_inserted(
    migrated_engine: Engine,
) -> None:
    template = _request(0)
    records = [replace(template, request_id=f"r-{i:05d}", span_id=f"{i:016x}") for i in range(2300)]
    with migrated_engine.begin() as connection:
        first = write_requests(connection, records[::2])  # every other id, so the next call interleaves
    with migrated_engine.begin() as connection:
        second = write_requests(connection, [*records, records[1]])  # one id twice within the call

    assert [record.request_id for record in first] == [record.request_id for record in records[::2]]
    assert [record.request_id for record in second] == [record.request_id for record in records[1::2]]
    assert _totals(migrated_engine)[1:3] == (2300, 2300)


def test_a_rejected_row_raises_sqlalchemys_error_and_stores_nothing(migrated_engine: Engine) -> None:
    good, bad = _request(1), replace(_request(2), status=None)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError), migrated_engine.begin() as connection:
        write_requests(connection, [good, bad])
    assert _totals(migrated_engine) == (0, 0, 0, 0)


def test_the_store_write_benchmark_runs_at_a_small_size() -> None:
    """`bench/bench_store_write.py` with an earlier tree (HEAD) and this one, one round each."""
    command = [sys.executable, "bench/bench_store_write.py", "--base", "HEAD", "--rounds", "1"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("SQLite")]
    assert [row[1] for row in rows] == ["HEAD", "now"]
    assert all(len(row) == 5 and float(row[2]) > 0 for row in rows)  # three figures, no error text
