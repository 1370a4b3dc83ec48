"""Retention deletes only rows older than the cutoff, in batches, and keeps the hourly and daily rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from llmops.cli.retention import retention as retention_command
from llmops.storage.retention import apply_retention
from llmops.storage.tables import request_rollups, request_rollups_daily, requests, spans, step_rollups_daily
from llmops.telemetry.store_exporter import StoreExporter
from store_traces import Req, emit, tracer_to

CUTOFF = datetime(2026, 3, 10, tzinfo=UTC)


def _ids(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(requests.c.request_id)).scalars())


def _count(engine: Engine, column) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return int(connection.execute(select(func.coalesce(func.sum(column), 0))).scalar_one())


def _fill(engine: Engine, cutoff: datetime) -> Engine:
    """7 requests before the cutoff and 3 after, each with one tool span (20 spans)."""
    tracer = tracer_to(StoreExporter(engine))
    for day in range(7):
        emit(
            tracer, Req(cutoff - timedelta(days=day, seconds=1), f"old-{day}", tools=[("lookup_contact", 5)])
        )
    for minute in range(3):
        emit(
            tracer,
            Req(cutoff + timedelta(minutes=10 + minute), f"new-{minute}", tools=[("lookup_contact", 5)]),
        )
    return engine


@pytest.fixture
def aged(migrated_engine: Engine) -> Engine:
    return _fill(migrated_engine, CUTOFF)


def test_dry_run_counts_without_deleting(aged: Engine) -> None:
    result = apply_retention(aged, CUTOFF, dry_run=True)

    assert (result.dry_run, result.spans, result.requests, result.batches) == (True, 14, 7, 0)
    assert len(_ids(aged)) == 10


def test_deletes_old_rows_in_batches_and_keeps_rollups(aged: Engine) -> None:
    rolled_before = _count(aged, request_rollups.c.requests)
    days_before = _count(aged, request_rollups_daily.c.requests), _count(aged, step_rollups_daily.c.calls)
    progress: list[tuple[str, int]] = []

    result = apply_retention(
        aged, CUTOFF, batch_size=3, on_batch=lambda table, n: progress.append((table, n))
    )

    assert (result.spans, result.requests) == (14, 7)
    assert progress == [("spans", 3)] * 4 + [("spans", 2)] + [("requests", 3)] * 2 + [("requests", 1)]
    assert result.batches == len(progress)
    assert _ids(aged) == {"new-0", "new-1", "new-2"}
    with aged.connect() as connection:
        assert (
            connection.execute(select(func.min(spans.c.start_time))).scalar_one().replace(tzinfo=UTC)
            >= CUTOFF
        )
    assert _count(aged, request_rollups.c.requests) == rolled_before == 10
    days_after = _count(aged, request_rollups_daily.c.requests), _count(aged, step_rollups_daily.c.calls)
    assert days_after == days_before == (10, 10)
    assert apply_retention(aged, CUTOFF).requests == 0


def test_retention_command_is_a_dry_run_unless_applied(
    migrated_engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = 5
    aged = _fill(migrated_engine, datetime.now(UTC) - timedelta(days=days))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMOPS_DATABASE_URL", database_url)
    monkeypatch.setenv("LLMOPS_RETENTION_DAYS", str(days))
    app = typer.Typer()
    app.command()(retention_command)
    runner = CliRunner()

    dry = runner.invoke(app, [])
    assert dry.exit_code == 0, dry.output
    assert "Would delete 14 spans and 7 requests" in dry.output
    assert len(_ids(aged)) == 10

    applied = runner.invoke(app, ["--days", str(days), "--apply"])
    assert applied.exit_code == 0, applied.output
    assert "Deleted 14 spans and 7 requests" in applied.output
    assert _ids(aged) == {"new-0", "new-1", "new-2"}
