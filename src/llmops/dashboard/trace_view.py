"""One request's page: the waterfall (spans, each model call's attempts and retry events, tokens and
cost), what the user received and why (degraded reason, model output or a truthful "capture is off").

Span attributes were redacted by the exporter before they were stored; they pass the redactor again
here (cheap, and a rule added since then applies to old rows too)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from llmops.dashboard.format import duration_ms, money, number
from llmops.redaction import Redactor
from llmops.reporting.traces import RequestRow, SpanRow
from llmops.telemetry import conventions as c
from llmops.telemetry.messages import read_messages

REASONS = {
    "providers_failed": "every model provider failed, so the rule-based triage was sent",
    "invalid_output": "the model's output could not be parsed or repaired, so the rule-based triage was sent",
}
CONTENT_KEYS = (c.GEN_AI_INPUT_MESSAGES, c.GEN_AI_OUTPUT_MESSAGES, c.EMAIL_SUBJECT)


@dataclass
class Segment:
    """One attempt of a model call on the waterfall's axis."""

    number: int
    offset_pct: float
    width_pct: float
    duration_ms: float
    outcome: str  # "ok" or the error type


@dataclass
class Event:
    name: str
    at_ms: float
    attributes: list[tuple[str, str]]


@dataclass
class WaterfallRow:
    span: SpanRow
    depth: int
    offset_pct: float
    width_pct: float
    attributes: list[tuple[str, str]]
    segments: list[Segment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    usage: str | None = None  # tokens and cost of a model span

    @property
    def is_model(self) -> bool:
        return (
            self.span.name.startswith("chat ") or self.span.attributes.get(c.GEN_AI_OPERATION_NAME) == "chat"
        )


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

    def pct(ms: float) -> float:
        return round(ms / total_ms * 100, 3)

    def visit(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_time):
            offset = (span.start_time - start).total_seconds() * 1000
            row = WaterfallRow(
                span=span,
                depth=depth,
                offset_pct=pct(offset),
                width_pct=round(max(span.duration_ms / total_ms * 100, 0.3), 3),
                attributes=[(key, _text(value, redactor)) for key, value in sorted(span.attributes.items())],
                events=[
                    _event(event, span.start_time, redactor)
                    for event in span.events
                    if isinstance(event, dict)
                ],
            )
            if row.is_model:
                row.usage = _usage(span.attributes)
                row.segments = [
                    Segment(
                        s.number,
                        pct(offset + s.offset_pct),
                        max(pct(s.width_pct), 0.3),
                        s.duration_ms,
                        s.outcome,
                    )
                    for s in attempts(span)
                ]
            rows.append(row)
            visit(span.span_id, depth + 1)

    visit(None, 0)
    return rows


def attempts(span: SpanRow) -> list[Segment]:
    """A model span's attempts, from its `retry` events (each marks an attempt's end and the backoff after
    it) and its end; offsets and widths here are milliseconds from the span's start."""
    retries = sorted(
        (event for event in span.events if isinstance(event, dict) and event.get("name") == "retry"),
        key=lambda event: str(event.get("time", "")),
    )
    if not retries:
        return []
    segments, cursor = [], 0.0
    for index, event in enumerate(retries, start=1):
        attrs = event.get("attributes") or {}
        ended = _ms_since(event.get("time"), span.start_time)
        if ended is None:
            return []
        segments.append(
            Segment(index, cursor, ended - cursor, ended - cursor, str(attrs.get("error.type", "error")))
        )
        cursor = ended + float(attrs.get("llmops.retry.wait_s") or 0.0) * 1000
    outcome = "ok" if span.status_code != "ERROR" else str(span.attributes.get(c.ERROR_TYPE, "error"))
    last = max(span.duration_ms - cursor, 0.0)
    segments.append(Segment(len(retries) + 1, cursor, last, last, outcome))
    return segments


def _ms_since(moment: Any, start: datetime) -> float | None:
    try:
        return (datetime.fromisoformat(str(moment)) - start).total_seconds() * 1000
    except ValueError:
        return None


RETRY_FIELDS = (
    ("llmops.retry.attempt", "after attempt"),
    ("error.type", "error"),
    ("llmops.retry.wait_s", "wait"),
)


def _event(event: dict[str, Any], start: datetime, redactor: Redactor) -> Event:
    """An event with its attributes; a retry reads `after attempt 1 · error timeout · wait 3.1ms`."""
    attributes = event.get("attributes") or {}
    name = str(event.get("name", "event"))
    at = _ms_since(event.get("time"), start) or 0.0
    if name == "retry":
        shown = []
        for key, label in RETRY_FIELDS:
            value = attributes.get(key)
            if key == "llmops.retry.wait_s" and isinstance(value, int | float):
                shown.append((label, duration_ms(value * 1000)))
            elif value is not None:
                shown.append((label, _text(value, redactor)))
        return Event(name, at, shown)
    return Event(name, at, [(key, _text(value, redactor)) for key, value in sorted(attributes.items())])


def _usage(attributes: dict[str, Any]) -> str | None:
    tokens_in = attributes.get(c.GEN_AI_USAGE_INPUT_TOKENS)
    tokens_out = attributes.get(c.GEN_AI_USAGE_OUTPUT_TOKENS)
    if tokens_in is None and tokens_out is None:
        return None
    cost = attributes.get(c.COST_USD)
    text = f"{number(tokens_in or 0)} in / {number(tokens_out or 0)} out tokens"
    return text + (f", {money(cost)}" if isinstance(cost, int | float) else ", cost unknown")


def _text(value: Any, redactor: Redactor) -> str:
    if isinstance(value, float):
        return number(value, 3)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return redactor.redact(text)


@dataclass
class Outcome:
    """What the user received and why, for the top of the request page."""

    headline: str
    reason: str | None
    received: dict[str, str] | None
    received_from: str
    model_output: dict[str, str] | None
    capture_on: bool
    model_calls: int
    failed_attempts: list[str]
    note: str | None


def outcome(request: RequestRow, spans: list[SpanRow], redactor: Redactor) -> Outcome:
    root = next((s for s in spans if s.attributes.get(c.ROOT_SPAN_MARKER) is True), None)
    chats = [s for s in spans if s.name.startswith("chat ")]
    capture_on = any(key in s.attributes for s in spans for key in CONTENT_KEYS)
    received = _triage(root.attributes.get(c.GEN_AI_OUTPUT_MESSAGES), redactor) if root else None
    model_output = None
    for span in reversed(chats):
        model_output = _triage(span.attributes.get(c.GEN_AI_OUTPUT_MESSAGES), redactor)
        if model_output is not None:
            break
    tries = [seg for span in chats for seg in (attempts(span) or [_single(span)])]
    failed = [seg.outcome for seg in tries if seg.outcome != "ok"]
    reason = REASONS.get(request.degraded_reason or "", request.degraded_reason) if request.degraded else None
    headline = {"ok": "Answered by the model", "degraded": "Degraded", "error": "Failed"}.get(
        request.status, request.status
    )
    note = None
    if not capture_on:
        note = "Content capture is off (LLMOPS_CAPTURE_CONTENT), so no text of this request was stored."
    elif model_output is None and chats:
        kinds = ", ".join(sorted(set(failed))) or "no output"
        note = f"The model was called {_times(len(tries))} and returned no usable output ({kinds})."
    elif not chats:
        note = "No model was called for this request."
    return Outcome(
        headline=headline,
        reason=reason,
        received=received if received is not None else (model_output if not request.degraded else None),
        received_from="the rule-based fallback" if request.degraded else "the model",
        model_output=model_output,
        capture_on=capture_on,
        model_calls=len(tries),
        failed_attempts=failed,
        note=note,
    )


def _single(span: SpanRow) -> Segment:
    failed = span.status_code == "ERROR"
    kind = str(span.attributes.get(c.ERROR_TYPE, "error")) if failed else "ok"
    return Segment(1, 0.0, span.duration_ms, span.duration_ms, kind)


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _triage(raw: Any, redactor: Redactor) -> dict[str, str] | None:
    """A captured triage (output messages whose text is JSON) as field → text, redacted."""
    if raw is None:
        return None
    text = _message_text(raw)
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"output": redactor.redact(text)}
    if isinstance(parsed, dict):
        return {str(key): _value(value, redactor) for key, value in parsed.items()}
    return {"output": redactor.redact(text)}


def _value(value: Any, redactor: Redactor) -> str:
    if isinstance(value, list):
        return redactor.redact("\n".join(f"• {item}" for item in value))
    return _text(value, redactor)


def _message_text(raw: Any) -> str:
    """The text of captured output messages (a JSON string or list, `parts` or `{role, content}`)."""
    texts = [text for _, text in read_messages(raw)]
    if texts:
        return "".join(texts)
    return raw if isinstance(raw, str) else json.dumps(raw)


def triage_of(spans: list[SpanRow], redactor: Redactor) -> dict[str, str] | None:
    """The triage the request answered with: the root span's captured reply, else the last model output."""
    root = next((s for s in spans if s.attributes.get(c.ROOT_SPAN_MARKER) is True), None)
    received = _triage(root.attributes.get(c.GEN_AI_OUTPUT_MESSAGES), redactor) if root else None
    if received is not None:
        return received
    for span in reversed([s for s in spans if s.name.startswith("chat ")]):
        found = _triage(span.attributes.get(c.GEN_AI_OUTPUT_MESSAGES), redactor)
        if found is not None:
            return found
    return None
