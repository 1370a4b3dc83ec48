"""What each page shows, assembled from the queries; the JSON API returns the same pieces."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine

from llmops.dashboard.charts import Chart, bar_chart, hours_between, line_chart
from llmops.evals.compare import Comparison, compare_runs
from llmops.evals.store import RunNotFound, resolve_run
from llmops.feedback.store import FeedbackStore
from llmops.prompts.labels import LabelStore
from llmops.prompts.registry import PromptNotFound, PromptRegistry
from llmops.redaction import Redactor
from llmops.reporting.filters import Filters
from llmops.reporting.models import Report, StepSummary
from llmops.reporting.quality import EvalRunRow, VersionFeedback, feedback_by_version, list_eval_runs
from llmops.reporting.queries import build_report
from llmops.reporting.render import dollars, percent, seconds
from llmops.reporting.timeseries import Point, timeseries
from llmops.reporting.traces import SpanRow
from llmops.reporting.window import Window
from llmops.telemetry import conventions as c
from llmops.telemetry.messages import read_messages


class Headline(BaseModel):
    """The overview's headline figures, formatted exactly as `llmops report` prints them."""

    total_requests: str
    avg_latency: str
    p50_latency: str
    p95_latency: str
    total_cost: str
    error_rate: str
    degraded_rate: str
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
    charts: list[Chart] = field(default_factory=list)


def overview(engine: Engine, range_name: str, window: Window, filters: Filters) -> Overview:
    """Headline figures from `build_report` (same window and filters as `llmops report --since <range>
    --prompt-version … --model … --provider …`), charts from the hourly rollups."""
    report = build_report(engine, window, filters)
    points = timeseries(engine, window, filters)
    start = window.start or (points[0].hour if points else window.end)
    view = Overview(range_name, window, filters, report, headline(report), points)
    view.charts = overview_charts(points, start, window.end)
    return view


def overview_charts(points: list[Point], start: datetime, end: datetime) -> list[Chart]:
    hours = hours_between(start, end)
    by_hour = {point.hour: point for point in points}

    def values(attribute: str) -> dict[datetime, float]:
        return {hour: float(getattr(point, attribute) or 0) for hour, point in by_hour.items()}

    tokens = {hour: float(p.input_tokens + p.output_tokens) for hour, p in by_hour.items()}
    return [
        bar_chart("Requests per hour", "chart-requests", hours, values("requests"), lambda v: f"{v:,.0f}"),
        line_chart(
            "Latency (avg and p95)",
            "chart-latency",
            hours,
            [
                ("avg", "line-avg", {h: p.avg_latency_ms for h, p in by_hour.items()}),
                ("p95", "line-p95", {h: p.p95_latency_ms for h, p in by_hour.items()}),
            ],
            seconds,
        ),
        bar_chart("Error rate", "chart-errors", hours, values("error_rate"), percent),
        bar_chart("Tokens", "chart-tokens", hours, tokens, lambda v: f"{v:,.0f}"),
        bar_chart("Cost", "chart-cost", hours, values("cost_usd"), dollars),
    ]


class StepShare(BaseModel):
    step: StepSummary
    kind: str
    total_ms: float
    share: float


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
        )
        for row, total in totals
    ]


@dataclass
class WaterfallRow:
    span: SpanRow
    depth: int
    offset_pct: float
    width_pct: float
    attributes: list[tuple[str, str]]


def waterfall(spans: list[SpanRow], redactor: Redactor) -> list[WaterfallRow]:
    """Spans in tree order (children after their parent, by start), placed on the trace's time axis."""
    if not spans:
        return []
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[SpanRow]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    start = min(span.start_time for span in spans)
    end = max(span.start_time + timedelta(milliseconds=span.duration_ms) for span in spans)
    total_ms = max((end - start).total_seconds() * 1000, 1e-6)
    rows: list[WaterfallRow] = []

    def visit(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_time):
            offset = (span.start_time - start).total_seconds() * 1000
            rows.append(
                WaterfallRow(
                    span=span,
                    depth=depth,
                    offset_pct=round(offset / total_ms * 100, 3),
                    width_pct=round(max(span.duration_ms / total_ms * 100, 0.3), 3),
                    attributes=[
                        (key, _text(value, redactor)) for key, value in sorted(span.attributes.items())
                    ],
                )
            )
            visit(span.span_id, depth + 1)

    visit(None, 0)
    return rows


def _text(value: Any, redactor: Redactor) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return redactor.redact(text)


def triage_of(spans: list[SpanRow], redactor: Redactor) -> dict[str, str] | None:
    """The triage the model returned, from the last chat span's captured output (already redacted)."""
    chats = [span for span in spans if span.name.startswith("chat ")]
    for span in reversed(chats):
        raw = span.attributes.get("gen_ai.output.messages")
        if raw is None:
            continue
        text = _message_text(raw)
        try:
            parsed = json.loads(text)
        except ValueError:
            return {"output": redactor.redact(text)}
        if isinstance(parsed, dict):
            return {str(key): _text(value, redactor) for key, value in parsed.items()}
        return {"output": redactor.redact(text)}
    return None


def _message_text(raw: Any) -> str:
    """The text of captured output messages (a JSON string or list, `parts` or `{role, content}`)."""
    texts = [text for _, text in read_messages(raw)]
    if texts:
        return "".join(texts)
    return raw if isinstance(raw, str) else json.dumps(raw)


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


def comparison(engine: Engine, baseline: str, candidate: str) -> Comparison:
    """Compare two runs (ids, or prompt versions meaning their latest run); RunNotFound if missing."""
    return compare_runs(resolve_run(engine, baseline), resolve_run(engine, candidate))


def request_feedback(engine: Engine, request_id: str) -> dict[str, Any] | None:
    stored = FeedbackStore(engine).get(request_id)
    return None if stored is None else stored.model_dump(mode="json")


__all__ = ["PromptNotFound", "RunNotFound"]
