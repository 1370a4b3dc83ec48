"""The store exporter: spans, request rows and rollups from real SDK spans, on SQLite and Postgres."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from llmops.storage import histogram
from llmops.storage.db import make_engine, transact
from llmops.storage.migrate import alembic_config, upgrade
from llmops.storage.rollups import DAY, HOUR, REQUESTS, STEPS, RollupSpec
from llmops.storage.service_state import get_or_create
from llmops.storage.tables import metadata, request_rollups, requests, spans, step_rollups
from llmops.storage.timeutil import day_floor, utc
from llmops.telemetry import conventions as c
from llmops.telemetry.store_exporter import StoreExporter
from store_traces import Req, capture, emit, tracer_to

T0 = datetime(2026, 3, 10, 9, 15, tzinfo=UTC)
OWNED = {
    "requests",
    "spans",
    "request_rollups",
    "step_rollups",
    "request_rollups_daily",
    "step_rollups_daily",
    "service_state",
}


def _rows(engine: Engine, table, *columns):  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return connection.execute(select(*columns).select_from(table)).all()


def _count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _hours_summed_by_day(engine: Engine, spec: RollupSpec) -> dict[tuple[object, ...], list[float]]:
    """The hourly rollup rows summed per UTC day and key, in Python."""
    summed: dict[tuple[object, ...], list[float]] = {}
    with engine.connect() as connection:
        for hour, *rest in connection.execute(
            select(*(spec.hourly.c[name] for name in (*spec.keys(HOUR), *spec.counters)))
        ):
            key = (day_floor(hour), *rest[: len(spec.dimensions)])
            into = summed.setdefault(key, [0.0] * len(spec.counters))
            for index, value in enumerate(rest[len(spec.dimensions) :]):
                into[index] += value
    return summed


def _stored_days(engine: Engine, spec: RollupSpec) -> dict[tuple[object, ...], list[float]]:
    with engine.connect() as connection:
        rows = connection.execute(select(*(spec.daily.c[name] for name in (*spec.keys(DAY), *spec.counters))))
        return {
            (utc(day), *rest[: len(spec.dimensions)]): [float(v) for v in rest[len(spec.dimensions) :]]
            for day, *rest in rows
        }


def _assert_days_match_hours(engine: Engine) -> None:
    """Every daily rollup row is exactly its day's hourly rows summed, and no day is missing."""
    for spec in (REQUESTS, STEPS):
        expected = _hours_summed_by_day(engine, spec)
        stored = _stored_days(engine, spec)
        assert stored.keys() == expected.keys()
        for key, values in expected.items():
            assert stored[key] == pytest.approx(values, rel=1e-12), key


def _totals(engine: Engine) -> tuple[int, int, int]:
    """(requests in rollups, step calls in rollups, histogram total of request rollups); the daily
    rollups must agree with the hourly ones."""
    _assert_days_match_hours(engine)
    with engine.connect() as connection:
        rolled = connection.execute(select(func.sum(request_rollups.c.requests))).scalar_one() or 0
        calls = connection.execute(select(func.sum(step_rollups.c.calls))).scalar_one() or 0
        buckets = sum(
            connection.execute(select(func.sum(request_rollups.c[name]))).scalar_one() or 0
            for name in histogram.COLUMNS
        )
    return int(rolled), int(calls), int(buckets)


def _owned(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table in OWNED


def test_migrations_create_exactly_the_declared_tables(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": _owned})
        assert compare_metadata(context, metadata) == []


def test_exporter_stores_spans_requests_and_rollups(migrated_engine: Engine) -> None:
    tracer = tracer_to(StoreExporter(migrated_engine))
    emit(
        tracer,
        Req(T0, "req-1", latency_ms=1500, cost_usd=0.002, retries=1, tools=[("lookup_contact", 120)]),
    )
    emit(tracer, Req(T0 + timedelta(minutes=5), "req-2", status="error", latency_ms=40, cost_usd=None))

    stored = {row.request_id: row for row in _rows(migrated_engine, requests, requests)}
    assert set(stored) == {"req-1", "req-2"}
    first = stored["req-1"]
    assert (first.prompt_version, first.model, first.provider, first.status) == (
        "email_triage_v1",
        "SmolLM2-135M-Instruct",
        "local",
        "ok",
    )
    assert (first.latency_ms, first.cost_usd, first.retries, first.http_status) == (1500, 0.002, 1, 200)
    assert first.created_at.replace(tzinfo=UTC) == T0
    assert stored["req-2"].cost_usd is None
    assert stored["req-2"].error_type == "AllProvidersFailed"

    span_rows = _rows(migrated_engine, spans, spans)
    assert len(span_rows) == 3
    tool = next(row for row in span_rows if row.name == "execute_tool lookup_contact")
    assert tool.request_id == "req-1"
    assert tool.duration_ms == pytest.approx(120)
    assert json.loads(tool.attributes)[c.GEN_AI_TOOL_NAME] == "lookup_contact"

    rollup = _rows(migrated_engine, request_rollups, request_rollups)
    assert len(rollup) == 1
    hour = rollup[0]
    assert hour.hour.replace(tzinfo=UTC) == datetime(2026, 3, 10, 9, tzinfo=UTC)
    assert (hour.requests, hour.errors, hour.retries, hour.priced) == (2, 1, 1, 1)
    assert hour.cost_usd == pytest.approx(0.002)
    assert hour.latency_sum_ms == pytest.approx(1540)
    assert getattr(hour, histogram.COLUMNS[histogram.bucket_index(1500)]) == 1
    steps = _rows(migrated_engine, step_rollups, step_rollups.c.name, step_rollups.c.calls)
    assert steps == [("execute_tool lookup_contact", 1)]
    (day,) = _rows(migrated_engine, REQUESTS.daily, REQUESTS.daily)
    assert day.day.replace(tzinfo=UTC) == datetime(2026, 3, 10, tzinfo=UTC)
    assert (day.requests, day.errors, day.retries, day.priced) == (2, 1, 1, 1)
    _assert_days_match_hours(migrated_engine)


def test_daily_rollups_sum_the_hours_of_each_utc_day(migrated_engine: Engine) -> None:
    """Requests either side of midnight, in one batch and in several: one day row per day and key."""
    tracer = tracer_to(StoreExporter(migrated_engine))
    midnight = datetime(2026, 3, 11, tzinfo=UTC)
    moments = [midnight - timedelta(minutes=1), midnight, midnight + timedelta(hours=5), T0]
    for index, moment in enumerate(moments):
        emit(tracer, Req(moment, f"day-{index}", latency_ms=10 * (index + 1), tools=[("lookup_contact", 4)]))
    exporter = StoreExporter(migrated_engine)
    batch = capture(
        [Req(midnight + timedelta(hours=i), f"batch-{i}", version="v2", status="error") for i in range(30)]
    )
    assert exporter.export(batch) is SpanExportResult.SUCCESS

    days = {
        (utc(day), version): (count, errors)
        for day, version, count, errors in _rows(
            migrated_engine,
            REQUESTS.daily,
            REQUESTS.daily.c.day,
            REQUESTS.daily.c.prompt_version,
            REQUESTS.daily.c.requests,
            REQUESTS.daily.c.errors,
        )
    }
    v1 = "email_triage_v1"
    assert days == {
        (datetime(2026, 3, 10, tzinfo=UTC), v1): (2, 0),
        (midnight, v1): (2, 0),
        (midnight, "v2"): (24, 24),
        (midnight + timedelta(days=1), "v2"): (6, 6),
    }
    _assert_days_match_hours(migrated_engine)


def test_migration_backfills_daily_rollups_from_the_hourly_ones(database_url: str) -> None:
    """A store from before the daily rollups gets them summed from its hour rows on upgrade."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            config = alembic_config(engine)
            config.attributes["connection"] = connection
            command.upgrade(config, "0008")
            connection.commit()
        hours = [datetime(2026, 3, 10, h, tzinfo=UTC) for h in (0, 7, 23)] + [
            datetime(2026, 3, 11, 2, tzinfo=UTC)
        ]
        zeros = dict.fromkeys(histogram.COLUMNS, 0)
        with engine.begin() as connection:
            connection.execute(
                insert(request_rollups),
                [
                    {
                        "hour": hour,
                        "prompt_version": version,
                        "model": "m",
                        "provider": "p",
                        "assistant": "a",
                        "requests": 3 + index,
                        "errors": index % 2,
                        "degraded": 1,
                        "retries": index,
                        "input_tokens": 1000 * index,
                        "output_tokens": 7,
                        "priced": 2,
                        "cost_usd": 0.125 * index,
                        "latency_sum_ms": 100.5 * index,
                        **zeros,
                        histogram.COLUMNS[index]: 3 + index,
                    }
                    for index, hour in enumerate(hours)
                    for version in ("v1", "v2")
                ],
            )
            connection.execute(
                insert(step_rollups),
                [
                    {
                        "hour": hour,
                        "name": "execute_tool lookup_contact",
                        "prompt_version": "v1",
                        "model": "",
                        "provider": "",
                        "assistant": "a",
                        "calls": 2,
                        "errors": 1,
                        "duration_sum_ms": 9.25,
                        **zeros,
                        "h10": 2,
                    }
                    for hour in hours
                ],
            )
        upgrade(engine)
        _assert_days_match_hours(engine)
        assert len(_stored_days(engine, REQUESTS)) == 4 and len(_stored_days(engine, STEPS)) == 2
    finally:
        engine.dispose()


def test_children_wait_for_their_root_and_late_children_join_it(migrated_engine: Engine) -> None:
    exporter = StoreExporter(migrated_engine)
    trace_spans = capture([Req(T0, "req-1", tools=[("lookup_contact", 10), ("check_calendar", 20)])])
    first_child, second_child, root = trace_spans

    assert exporter.export([first_child]) is SpanExportResult.SUCCESS
    assert _totals(migrated_engine)[1] == 0
    assert _rows(migrated_engine, spans, spans.c.request_id) == [(None,)]

    assert exporter.export([root]) is SpanExportResult.SUCCESS
    assert _totals(migrated_engine)[:2] == (1, 1)

    assert exporter.export([second_child]) is SpanExportResult.SUCCESS
    assert _totals(migrated_engine)[:2] == (1, 2)
    assert {row[0] for row in _rows(migrated_engine, spans, spans.c.request_id)} == {"req-1"}


def _nested_trace() -> list[ReadableSpan]:
    """root → rule_suggestion → chat: a grandchild, ending first."""
    memory = InMemorySpanExporter()
    tracer = tracer_to(memory)
    attributes = {c.ROOT_SPAN_MARKER: True, c.REQUEST_ID: "nested", c.PROMPT_VERSION: "v1"}
    with (
        tracer.start_as_current_span(c.ROOT_SPAN, attributes=attributes),
        tracer.start_as_current_span("rule_suggestion"),
        tracer.start_as_current_span("chat scripted-1"),
    ):
        pass
    return list(memory.get_finished_spans())


@pytest.mark.parametrize("split", [(3,), (1, 3), (2, 3)], ids=["one-batch", "grandchild-first", "root-last"])
def test_nested_steps_are_attributed_however_batches_split(
    migrated_engine: Engine, split: tuple[int, ...]
) -> None:
    exporter = StoreExporter(migrated_engine)
    trace_spans = _nested_trace()
    start = 0
    for end in split:
        assert exporter.export(trace_spans[start:end]) is SpanExportResult.SUCCESS
        start = end

    assert {row[0] for row in _rows(migrated_engine, spans, spans.c.request_id)} == {"nested"}
    steps = _rows(migrated_engine, step_rollups, step_rollups.c.name, step_rollups.c.calls)
    assert sorted(steps) == [("chat scripted-1", 1), ("rule_suggestion", 1)]


def test_a_batch_exported_twice_is_counted_once(migrated_engine: Engine) -> None:
    exporter = StoreExporter(migrated_engine)
    batch = capture(
        [Req(T0 + timedelta(seconds=i), f"req-{i}", tools=[("lookup_contact", 5)]) for i in range(4)]
    )

    assert exporter.export(batch) is SpanExportResult.SUCCESS
    assert exporter.export(batch) is SpanExportResult.SUCCESS
    assert exporter.export(batch[:3]) is SpanExportResult.SUCCESS

    assert _count(migrated_engine, requests) == 4
    assert _count(migrated_engine, spans) == 8
    assert _totals(migrated_engine) == (4, 4, 4)


def test_openinference_names_are_mapped_on_the_way_in(migrated_engine: Engine) -> None:
    tracer = tracer_to(StoreExporter(migrated_engine))
    span = tracer.start_span(
        "llm", attributes={"llm.token_count.prompt": 12, "llm.model_name": "gpt-4o-mini"}
    )
    span.end()

    (attributes,) = _rows(migrated_engine, spans, spans.c.attributes)
    assert json.loads(attributes[0]) == {
        c.GEN_AI_USAGE_INPUT_TOKENS: 12,
        c.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    }


def test_export_failure_is_reported_not_raised_and_logs_no_content(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    unmigrated = make_engine(database_url)
    exporter = StoreExporter(unmigrated, attempts=1)
    subject = "Quarterly numbers for ACME"
    batch = capture([Req(T0, "req-1", attributes={c.EMAIL_SUBJECT: subject})])
    with caplog.at_level(logging.ERROR, logger="llmops.telemetry"):
        assert exporter.export(batch) is SpanExportResult.FAILURE
    unmigrated.dispose()
    (record,) = caplog.records
    assert record.error_type in {"OperationalError", "ProgrammingError"}  # type: ignore[attr-defined]
    assert subject not in caplog.text and "req-1" not in caplog.text


def test_shutdown_refuses_later_batches(migrated_engine: Engine) -> None:
    exporter = StoreExporter(migrated_engine)
    exporter.shutdown()
    assert exporter.export(capture([Req(T0, "req-1")])) is SpanExportResult.FAILURE
    assert exporter.force_flush() is True
    assert _count(migrated_engine, requests) == 0


def test_concurrent_exporters_lose_no_rollup_updates(database_url: str, migrated_engine: Engine) -> None:
    """Writers in several threads, each with its own engine like separate processes, hit the same rows."""
    writers, batches, per_batch = 4, 6, 5
    work = [
        [
            capture(
                [
                    Req(
                        T0 + timedelta(minutes=(w + b + i) % 3 * 30),
                        f"w{w}-b{b}-r{i}",
                        version=f"v{i % 2}",
                        latency_ms=100 + i,
                        tools=[("lookup_contact", 3)],
                    )
                    for i in range(per_batch)
                ]
            )
            for b in range(batches)
        ]
        for w in range(writers)
    ]
    barrier = threading.Barrier(writers)
    results: list[SpanExportResult] = []

    def run(batches_of_writer: list) -> None:  # type: ignore[type-arg]
        engine = make_engine(database_url)
        exporter = StoreExporter(engine, attempts=5)
        barrier.wait()
        results.extend(exporter.export(batch) for batch in batches_of_writer)
        engine.dispose()

    threads = [threading.Thread(target=run, args=(batches_of_writer,)) for batches_of_writer in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    expected = writers * batches * per_batch
    assert results == [SpanExportResult.SUCCESS] * writers * batches
    assert _count(migrated_engine, requests) == expected
    assert _totals(migrated_engine) == (expected, expected, expected)


def test_service_state_creates_one_value_for_all_racers(database_url: str, migrated_engine: Engine) -> None:
    racers = 6
    barrier = threading.Barrier(racers)
    seen: list[str] = []

    def race(index: int) -> None:
        engine = make_engine(database_url)
        barrier.wait()
        seen.append(get_or_create(engine, "pseudonym_key", lambda: f"value-{index}"))
        engine.dispose()

    threads = [threading.Thread(target=race, args=(index,)) for index in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(seen) == racers and len(set(seen)) == 1
    assert get_or_create(migrated_engine, "pseudonym_key", lambda: "other") == seen[0]


def test_a_transaction_is_retried_whole_on_transient_errors_only(migrated_engine: Engine) -> None:
    """The first try runs outside the retry loop; a transient failure there is the loop's first attempt."""
    calls: list[int] = []

    def locked_twice(connection: Connection) -> int:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("INSERT", None, Exception("database is locked"))
        return int(connection.execute(select(func.count()).select_from(requests)).scalar_one())

    assert transact(migrated_engine, locked_twice, attempts=3) == 0
    assert len(calls) == 3

    calls.clear()
    with pytest.raises(OperationalError):
        transact(migrated_engine, locked_twice, attempts=2)
    assert len(calls) == 2

    def conflict(_connection: Connection) -> None:
        calls.append(1)
        raise IntegrityError("INSERT", None, Exception("UNIQUE constraint failed"))

    calls.clear()
    with pytest.raises(IntegrityError):
        transact(migrated_engine, conflict)
    assert len(calls) == 1
