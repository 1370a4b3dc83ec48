"""Report figures against hand-computed values on a known dataset, on SQLite and Postgres."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine, delete
from typer.testing import CliRunner

from llmops.cli.report import report as report_command
from llmops.feedback.store import FeedbackStore
from llmops.reporting.filters import Filters
from llmops.reporting.models import Report
from llmops.reporting.quality import feedback_by_version
from llmops.reporting.queries import build_report
from llmops.reporting.render import render_json, render_text
from llmops.reporting.timeseries import filter_choices, timeseries
from llmops.reporting.window import Window
from llmops.storage import histogram
from llmops.storage.tables import requests, spans
from llmops.telemetry.store_exporter import StoreExporter
from store_traces import Req, emit, tracer_to

UNTIL = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
V7, V6 = "email_triage_v7", "email_triage_v6"


def at(hour: int, minute: int, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, 3, 10, hour, minute, second, micro, tzinfo=UTC)


# A 3h window ending 12:30 reads 09:30-10:00 and 12:00-12:30 from raw rows and 10:00-12:00 from rollups.
DATASET = [
    Req(at(9, 10), "a-before-window", V7, latency_ms=100, tools=[("lookup_contact", 900)]),
    Req(at(9, 45), "b-start-edge", V7, latency_ms=200, cost_usd=0.01, input_tokens=10, output_tokens=1,
        tools=[("lookup_contact", 50)]),
    Req(at(10, 5), "c-rollup", V7, latency_ms=300, cost_usd=0.02, input_tokens=20, output_tokens=2, retries=1,
        tools=[("lookup_contact", 150), ("check_calendar", 400)]),
    Req(at(11, 59, 59), "d-rollup-error", V6, latency_ms=4000, status="error", cost_usd=None, input_tokens=0,
        output_tokens=0),
    Req(at(12, 0), "e-end-edge", V6, latency_ms=500, cost_usd=0.03, input_tokens=30, output_tokens=3,
        tools=[("check_calendar", 100)]),
    Req(at(12, 29, 59, 999_000), "f-end-edge-degraded", V7, latency_ms=600, status="degraded", cost_usd=0.04,
        input_tokens=40, output_tokens=4, tools=[("lookup_contact", 250)]),
    Req(at(12, 30), "g-at-until", V7, latency_ms=700),
    Req(at(14, 0), "h-future", V6, latency_ms=800),
]  # fmt: skip


@pytest.fixture
def store(migrated_engine: Engine) -> Iterator[Engine]:
    tracer = tracer_to(StoreExporter(migrated_engine))
    for req in DATASET:
        emit(tracer, req)
    yield migrated_engine


def test_three_hour_window_matches_hand_computed_figures(store: Engine) -> None:
    report = build_report(store, Window.ending_at(UNTIL, timedelta(hours=3)))

    assert report.window_start == at(9, 30) and report.window_end == UNTIL
    assert report.requests == 5
    assert (report.errors, report.degraded, report.retries) == (1, 1, 1)
    assert report.error_rate == pytest.approx(0.2) and report.degraded_rate == pytest.approx(0.2)
    assert (report.input_tokens, report.output_tokens) == (100, 10)
    assert report.cost_usd == pytest.approx(0.10)
    assert report.unpriced_requests == 1
    assert report.avg_latency_ms == pytest.approx(1120)
    assert report.p95_method == "exact"
    assert report.p50_latency_ms == pytest.approx(500)
    assert report.p95_latency_ms == pytest.approx(600 + 0.8 * 3400)
    assert report.prompt_version == V7
    assert report.top_tool is not None
    assert (report.top_tool.tool, report.top_tool.calls, report.top_tool.avg_ms) == ("check_calendar", 2, 250)

    v7, v6 = report.versions
    assert (v7.prompt_version, v7.requests, v7.errors, v7.degraded) == (V7, 3, 0, 1)
    assert v7.avg_latency_ms == pytest.approx(1100 / 3)
    assert v7.p95_latency_ms == pytest.approx(300 + 0.9 * 300)
    assert v7.cost_usd == pytest.approx(0.07) and (v7.input_tokens, v7.output_tokens) == (70, 7)
    assert (v6.prompt_version, v6.requests, v6.errors, v6.error_rate) == (V6, 2, 1, 0.5)
    assert v6.p95_latency_ms == pytest.approx(500 + 0.95 * 3500)
    assert v6.cost_usd == pytest.approx(0.03)

    steps = {step.name: step for step in report.steps}
    assert set(steps) == {"execute_tool lookup_contact", "execute_tool check_calendar"}
    lookup = steps["execute_tool lookup_contact"]
    assert (lookup.calls, lookup.avg_ms) == (3, pytest.approx(150))
    assert lookup.p95_ms == pytest.approx(150 + 0.9 * 100)


def test_histogram_path_gives_the_same_counts_and_a_close_p95(store: Engine) -> None:
    exact = build_report(store, Window.ending_at(UNTIL, timedelta(hours=3)))
    estimated = build_report(store, Window.ending_at(UNTIL, timedelta(hours=3)), exact_limit=0)

    assert estimated.p95_method == "histogram" and estimated.step_p95_method == "histogram"
    same = {"requests", "errors", "degraded", "retries", "input_tokens", "output_tokens", "unpriced_requests"}
    assert estimated.model_dump(include=same) == exact.model_dump(include=same)
    assert estimated.cost_usd == pytest.approx(exact.cost_usd)
    assert estimated.avg_latency_ms == pytest.approx(exact.avg_latency_ms)
    assert estimated.p95_latency_ms == pytest.approx(exact.p95_latency_ms, rel=0.3)


def test_prompt_version_filter_narrows_everything(store: Engine) -> None:
    report = build_report(store, Window.ending_at(UNTIL, timedelta(hours=3)), Filters(prompt_version=V6))

    assert report.prompt_version == V6 and report.prompt_version_filter == V6
    assert (report.requests, report.errors) == (2, 1)
    assert [version.prompt_version for version in report.versions] == [V6]
    assert report.top_tool is not None and (report.top_tool.tool, report.top_tool.avg_ms) == (
        "check_calendar",
        100,
    )


def test_model_and_provider_filters_narrow_requests_and_steps(store: Engine) -> None:
    """Rollup hours and raw edges alike: requests, percentiles and the step breakdown of one model."""
    tracer = tracer_to(StoreExporter(store))
    other = {"model": "gpt-4o-mini", "provider": "openai"}
    emit(tracer, Req(at(10, 30), "m-rollup", V7, latency_ms=900, tools=[("search_kb", 70)], **other))
    emit(tracer, Req(at(12, 10), "m-raw-edge", V7, latency_ms=100, tools=[("search_kb", 30)], **other))

    by_model = build_report(store, Window.ending_at(UNTIL, timedelta(hours=3)), Filters(model="gpt-4o-mini"))
    assert (by_model.requests, by_model.model_filter, by_model.provider_filter) == (2, "gpt-4o-mini", None)
    assert by_model.avg_latency_ms == pytest.approx(500) and by_model.p95_latency_ms == pytest.approx(860)
    assert [(step.name, step.calls, step.avg_ms) for step in by_model.steps] == [
        ("execute_tool search_kb", 2, 50)
    ]
    assert by_model.top_tool is not None and by_model.top_tool.tool == "search_kb"
    assert "Only: model=gpt-4o-mini" in render_text(by_model).splitlines()

    local = build_report(store, Window.ending_at(UNTIL, timedelta(hours=3)), Filters(provider="local"))
    assert local.requests == 5 and "execute_tool search_kb" not in {step.name for step in local.steps}
    assert (
        build_report(
            store, Window.ending_at(UNTIL, timedelta(hours=3)), Filters(model="gpt-4o-mini", provider="local")
        ).requests
        == 0
    )
    assert build_report(store, Window.ending_at(UNTIL, timedelta(hours=3))).requests == 7


def test_all_and_sub_hour_windows(store: Engine) -> None:
    everything = build_report(store, Window.ending_at(UNTIL, None))
    assert everything.window_start is None
    assert everything.requests == 6
    assert everything.top_tool is not None and everything.top_tool.tool == "lookup_contact"

    recent = build_report(store, Window.ending_at(UNTIL, timedelta(minutes=20)))
    assert recent.requests == 1 and recent.degraded == 1
    assert recent.p95_latency_ms == pytest.approx(600)

    empty = build_report(store, Window.ending_at(at(3, 0), timedelta(hours=1)))
    assert (empty.requests, empty.p95_method, empty.prompt_version, empty.top_tool) == (0, "none", None, None)


def test_rollups_keep_counting_after_raw_rows_are_gone(store: Engine) -> None:
    """Retention removes raw rows, not rollups: whole hours still count, percentiles fall back."""
    with store.begin() as connection:
        connection.execute(delete(spans))
        connection.execute(delete(requests).where(requests.c.created_at < at(12, 0)))

    report = build_report(store, Window.ending_at(UNTIL, timedelta(hours=3)))
    assert report.requests == 4
    assert report.p95_method == "histogram"


def test_text_starts_with_the_fixed_five_lines_and_json_round_trips(store: Engine) -> None:
    report = build_report(store, Window.ending_at(UNTIL, timedelta(hours=3)))

    lines = render_text(report).splitlines()
    assert lines[:5] == [
        "Total Requests: 5",
        "Avg Latency: 1.1s (p95: 3.3s)",
        "Total Cost: $0.10",
        "Top Tool Latency: check_calendar (avg 0.250s)",
        f"Prompt Version: {V7}",
    ]
    assert "Error Rate: 20.0% (1)" in lines
    assert "Unpriced Requests: 1 (not in Total Cost)" in lines
    assert any(line.split()[:2] == [V6, "2"] for line in lines)
    assert Report.model_validate(json.loads(render_json(report))) == report


def test_report_command(migrated_engine: Engine, database_url: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMOPS_DATABASE_URL", database_url)
    now = datetime.now(UTC)
    emit(
        tracer_to(StoreExporter(migrated_engine)),
        Req(now - timedelta(minutes=10), "recent", V7, cost_usd=0.5),
    )
    app = typer.Typer()
    app.command()(report_command)
    runner = CliRunner()

    text = runner.invoke(app, [])
    assert text.exit_code == 0, text.output
    assert text.output.startswith("Total Requests: 1\nAvg Latency: 1.0s (p95: 1.0s)\nTotal Cost: $0.50\n")

    as_json = runner.invoke(app, ["--since", "all", "--json", "--prompt-version", V7])
    assert as_json.exit_code == 0
    assert json.loads(as_json.output)["requests"] == 1

    bad = runner.invoke(app, ["--since", "5 parsecs"])
    assert bad.exit_code == 2
    assert "30m, 24h, 7d" in bad.output


# Three days and a bit of requests at uneven times, for windows that read whole days from the daily
# rollups, whole hours from the hourly ones and the edges from raw rows.
SPREAD_UNTIL = datetime(2026, 3, 13, 14, 37, tzinfo=UTC)
SPREAD = [
    Req(
        SPREAD_UNTIL - timedelta(minutes=53 * i + 7),
        f"spread-{i:03d}",
        V7 if i % 3 else V6,
        latency_ms=40.0 + (i * 37) % 900,
        status="error" if i % 11 == 0 else "ok",
        cost_usd=None if i % 13 == 0 else 0.001 * (i % 5),
        input_tokens=100 + i,
        output_tokens=i % 17,
        retries=i % 3,
        tools=[("lookup_contact", 5.0 + i % 50)],
    )
    for i in range(100)
]


@pytest.mark.parametrize("since", [timedelta(hours=5), timedelta(hours=30), timedelta(days=3), None])
def test_windows_over_daily_rollups_count_what_the_raw_rows_hold(
    migrated_engine: Engine, since: timedelta | None
) -> None:
    tracer = tracer_to(StoreExporter(migrated_engine))
    for req in SPREAD:
        emit(tracer, req)
    window = Window.ending_at(SPREAD_UNTIL, since)
    inside = [r for r in SPREAD if (window.start is None or r.at >= window.start) and r.at < window.end]
    if since is not None and since >= timedelta(days=3):
        assert window.rollup_days is not None and window.hour_ranges and window.raw_ranges

    report = build_report(migrated_engine, window, exact_limit=0)  # percentiles from the histograms

    assert report.requests == len(inside)
    assert report.errors == sum(r.status == "error" for r in inside)
    assert report.retries == sum(r.retries for r in inside)
    assert (report.input_tokens, report.output_tokens) == (
        sum(r.input_tokens for r in inside),
        sum(r.output_tokens for r in inside),
    )
    assert report.cost_usd == pytest.approx(sum(r.cost_usd or 0 for r in inside))
    assert report.unpriced_requests == sum(r.cost_usd is None for r in inside)
    assert report.avg_latency_ms == pytest.approx(sum(r.latency_ms for r in inside) / len(inside))
    buckets = [0] * histogram.BUCKETS
    for r in inside:
        buckets[histogram.bucket_index(r.latency_ms)] += 1
    assert report.p95_method == "histogram"
    assert report.p95_latency_ms == pytest.approx(histogram.quantile(buckets, 0.95))
    (lookup,) = report.steps
    assert lookup.calls == len(inside)
    assert lookup.avg_ms == pytest.approx(sum(r.tools[0][1] for r in inside) / len(inside))
    for version in report.versions:
        assert version.requests == sum(r.version == version.prompt_version for r in inside)

    exact = build_report(migrated_engine, window)
    assert exact.p95_method == "exact" and exact.model_dump(include={"requests", "errors"}) == (
        report.model_dump(include={"requests", "errors"})
    )


@pytest.mark.parametrize("since", [timedelta(days=30), timedelta(hours=50)])
def test_day_buckets_of_the_series_match_the_raw_rows(migrated_engine: Engine, since: timedelta) -> None:
    """Whole days from the daily rollups, the first and last day's hours from the hourly ones (the
    window's first hour counts whole, as on every rollup chart)."""
    tracer = tracer_to(StoreExporter(migrated_engine))
    for req in SPREAD:
        emit(tracer, req)
    window = Window.ending_at(SPREAD_UNTIL, since)
    points = timeseries(migrated_engine, window, Filters(), timedelta(days=1))
    first_hour = SPREAD_UNTIL.replace(minute=0) - since
    expected: dict[datetime, list[Req]] = {}
    for r in SPREAD:
        if r.at >= first_hour:
            expected.setdefault(r.at.replace(hour=0, minute=0, second=0, microsecond=0), []).append(r)
    assert {p.start: p.requests for p in points} == {day: len(rows) for day, rows in expected.items()}
    for point in points:
        rows = expected[point.start]
        assert point.errors == sum(r.status == "error" for r in rows)
        assert point.input_tokens == sum(r.input_tokens for r in rows)
        assert point.cost_usd == pytest.approx(sum(r.cost_usd or 0 for r in rows))
    assert filter_choices(migrated_engine, window).prompt_versions == [V6, V7]
    recent = Window.ending_at(SPREAD_UNTIL, timedelta(hours=2))
    assert filter_choices(migrated_engine, recent).prompt_versions == sorted(
        {r.version for r in SPREAD if r.at >= SPREAD_UNTIL - timedelta(hours=3)}
    )


def test_feedback_by_version_counts_rated_requests_since_a_moment(store: Engine) -> None:
    """Ratings per version of the rated request; feedback that outlived its request row counts nowhere."""
    ratings = FeedbackStore(store)
    ratings.upsert("b-start-edge", 1, None, at(13, 0))
    ratings.upsert("c-rollup", -1, None, at(13, 5))
    ratings.upsert("e-end-edge", 1, None, at(13, 10))
    ratings.upsert("a-before-window", -1, None, at(8, 0))
    ratings.upsert("g-at-until", 1, None, at(13, 20))
    with store.begin() as connection:
        connection.execute(delete(requests).where(requests.c.request_id == "g-at-until"))

    found = feedback_by_version(store, at(12, 0))
    assert {version: (f.ratings, f.positive, f.negative) for version, f in found.items()} == {
        V7: (2, 1, 1),
        V6: (1, 1, 0),
    }
    assert found[V7].mean_rating == pytest.approx(0.0)
    assert feedback_by_version(store, None)[V7].ratings == 3
