"""What each page shows, assembled from the queries; the JSON API returns the same pieces."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine

from llmops.dashboard.charts import Chart, bar_chart, line_chart
from llmops.evals.store import RunNotFound
from llmops.feedback.store import FeedbackStore
from llmops.prompts.labels import CANARY, LabelStore
from llmops.prompts.registry import PromptNotFound, PromptRegistry
from llmops.reporting.filters import Filters
from llmops.reporting.models import Report, StepSummary
from llmops.reporting.quality import EvalRunRow, VersionFeedback, feedback_by_version, list_eval_runs
from llmops.reporting.queries import build_report
from llmops.reporting.render import dollars, percent, seconds
from llmops.reporting.timeseries import Point, bucket_for, bucket_starts, timeseries
from llmops.reporting.window import Window
from llmops.telemetry import conventions as c


class Headline(BaseModel):
    """The overview's headline figures, formatted exactly as `llmops report` prints them."""

    total_requests: str
    avg_latency: str
    p50_latency: str
    p95_latency: str
    total_cost: str
    error_rate: str
    degraded_rate: str
    retries: str
    tokens: str


def headline(report: Report) -> Headline:
    return Headline(
        total_requests=str(report.requests),
        avg_latency=seconds(report.avg_latency_ms),
        p50_latency=seconds(report.p50_latency_ms),
        p95_latency=seconds(report.p95_latency_ms),
        total_cost=dollars(report.cost_usd),
        error_rate=percent(report.error_rate),
        degraded_rate=percent(report.degraded_rate),
        retries=f"{report.retries:,}",
        tokens=f"{report.input_tokens:,} input / {report.output_tokens:,} output",
    )


@dataclass
class Overview:
    range_name: str
    window: Window
    filters: Filters
    report: Report
    headline: Headline
    points: list[Point]
    bucket: timedelta
    charts: list[Chart] = field(default_factory=list)

    @property
    def bucket_name(self) -> str:
        return bucket_name(self.bucket)


def bucket_name(bucket: timedelta) -> str:
    """`minute`, `5 minutes`, `hour`, `day`: what one bar or point of a chart stands for."""
    if bucket >= timedelta(days=1):
        return "day"
    if bucket >= timedelta(hours=1):
        return "hour"
    minutes = int(bucket.total_seconds() // 60)
    return "minute" if minutes == 1 else f"{minutes} minutes"


def overview(engine: Engine, range_name: str, window: Window, filters: Filters) -> Overview:
    """Headline figures from `build_report` (same window and filters as `llmops report --since <range>
    --prompt-version … --model … --provider … --assistant …`), charts in buckets that follow the range:
    minutes from raw rows for short ranges, hours and days from the hourly rollups."""
    report = build_report(engine, window, filters)
    bucket = bucket_for(window)
    points = timeseries(engine, window, filters, bucket)
    start = window.start or (points[0].start if points else window.end)
    view = Overview(range_name, window, filters, report, headline(report), points, bucket)
    view.charts = overview_charts(points, bucket_starts(start, window.end, bucket), bucket)
    return view


def overview_charts(points: list[Point], starts: list[datetime], bucket: timedelta) -> list[Chart]:
    by_start = {point.start: point for point in points}

    def values(attribute: str) -> dict[datetime, float | None]:
        return {start: float(getattr(point, attribute) or 0) for start, point in by_start.items()}

    tokens: dict[datetime, float | None] = {
        s: float(p.input_tokens + p.output_tokens) for s, p in by_start.items()
    }
    per = bucket_name(bucket)
    counts = lambda v: f"{v:,.0f}"  # noqa: E731
    return [
        bar_chart(
            f"Requests per {per}",
            "chart-requests",
            "requests",
            starts,
            bucket,
            [("requests", "bar-requests", values("requests"))],
            counts,
        ),
        line_chart(
            "Latency (avg and p95)",
            "chart-latency",
            "seconds",
            starts,
            bucket,
            [
                ("avg", "line-avg", {s: p.avg_latency_ms for s, p in by_start.items()}),
                ("p95", "line-p95", {s: p.p95_latency_ms for s, p in by_start.items()}),
            ],
            seconds,
        ),
        bar_chart(
            "Errors and degraded (share of requests)",
            "chart-errors",
            "%",
            starts,
            bucket,
            [
                ("errors", "bar-errors", values("error_rate")),
                ("degraded", "bar-degraded", values("degraded_rate")),
            ],
            percent,
        ),
        bar_chart(
            f"Retries per {per}",
            "chart-retries",
            "retries",
            starts,
            bucket,
            [("retries", "bar-retries", values("retries"))],
            counts,
        ),
        bar_chart(
            "Tokens (input + output)",
            "chart-tokens",
            "tokens",
            starts,
            bucket,
            [("tokens", "bar-requests", tokens)],
            counts,
        ),
        bar_chart(
            "Cost",
            "chart-cost",
            "USD",
            starts,
            bucket,
            [("cost", "bar-requests", values("cost_usd"))],
            dollars,
        ),
    ]


class StepShare(BaseModel):
    step: StepSummary
    kind: str
    total_ms: float
    share: float
    outlier: bool = False  # the average is above the p95: a few very slow calls pull it up


def step_shares(report: Report) -> list[StepShare]:
    """Each step's share of the time spent below the root span, largest first."""
    totals = [(row, (row.avg_ms or 0.0) * row.calls) for row in report.steps]
    whole = sum(total for _, total in totals) or 1.0
    return [
        StepShare(
            step=row,
            kind="tool"
            if row.name.startswith(c.TOOL_SPAN_PREFIX)
            else "model"
            if row.name.startswith("chat ")
            else "step",
            total_ms=total,
            share=total / whole,
            outlier=row.avg_ms is not None and row.p95_ms is not None and row.avg_ms > row.p95_ms,
        )
        for row, total in totals
    ]


class PromptRow(BaseModel):
    version: str
    changelog: str
    content_hash: str
    labels: list[str]
    requests: int
    avg_latency: str
    p95_latency: str
    cost: str
    error_rate: str
    feedback: VersionFeedback | None
    latest_eval: EvalRunRow | None


def prompt_rows(engine: Engine, registry: PromptRegistry, window: Window) -> list[PromptRow]:
    """Every known version (and any seen in traffic) with its traffic, feedback, last eval and labels."""
    report = build_report(engine, window)
    by_version = {row.prompt_version: row for row in report.versions}
    feedback = feedback_by_version(engine, window.start)
    labels: dict[str, list[str]] = {}
    for record in LabelStore(engine, registry).labels():
        if record.label == CANARY:
            if not record.traffic_share:  # rolled back or promoted: the label stays, the canary is over
                continue
            labels.setdefault(record.version_id, []).append(f"canary {percent(record.traffic_share)}")
            continue
        labels.setdefault(record.version_id, []).append(record.label)
    evals: dict[str, EvalRunRow] = {}
    for run in list_eval_runs(engine):
        evals.setdefault(run.prompt_version, run)
    known = {version.id: version for version in registry.versions()}
    rows = []
    for version_id in sorted(set(known) | {v for v in by_version if v}):
        traffic = by_version.get(version_id)
        prompt = known.get(version_id)
        rows.append(
            PromptRow(
                version=version_id,
                changelog=prompt.changelog if prompt else "(not in this replica's library)",
                content_hash=prompt.content_hash[:12] if prompt else "",
                labels=sorted(labels.get(version_id, [])),
                requests=traffic.requests if traffic else 0,
                avg_latency=seconds(traffic.avg_latency_ms if traffic else None),
                p95_latency=seconds(traffic.p95_latency_ms if traffic else None),
                cost=dollars(traffic.cost_usd if traffic else 0.0),
                error_rate=percent(traffic.error_rate if traffic else 0.0),
                feedback=feedback.get(version_id),
                latest_eval=evals.get(version_id),
            )
        )
    return rows


class PromptDiff(BaseModel):
    a: str
    b: str
    lines: list[tuple[str, str]]


def prompt_diff(registry: PromptRegistry, a: str, b: str) -> PromptDiff:
    """A unified diff of two version files; each line tagged add/del/hunk/ctx for styling."""
    left, right = registry.get(a), registry.get(b)
    diff = difflib.unified_diff(
        left.source.splitlines(), right.source.splitlines(), fromfile=a, tofile=b, lineterm=""
    )
    lines = []
    for line in diff:
        tag = (
            "hunk"
            if line.startswith("@@")
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else "ctx"
        )
        lines.append((tag, line))
    return PromptDiff(a=a, b=b, lines=lines)


def request_feedback(engine: Engine, request_id: str) -> dict[str, Any] | None:
    stored = FeedbackStore(engine).get(request_id)
    return None if stored is None else stored.model_dump(mode="json")


__all__ = ["PromptNotFound", "RunNotFound"]
