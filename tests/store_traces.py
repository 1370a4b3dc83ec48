"""Build real SDK spans shaped like a `POST /v1/triage` trace, at chosen times and durations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from llmops.telemetry import conventions as c


@dataclass(frozen=True)
class Req:
    """One triage request: when it started, its latency, and the tool calls it made (name, ms)."""

    at: datetime
    request_id: str
    version: str = "email_triage_v1"
    latency_ms: float = 1000.0
    status: str = "ok"
    cost_usd: float | None = 0.001
    input_tokens: int = 100
    output_tokens: int = 20
    retries: int = 0
    model: str = "SmolLM2-135M-Instruct"
    provider: str = "local"
    tools: Sequence[tuple[str, float]] = field(default_factory=tuple)
    attributes: Mapping[str, object] = field(default_factory=dict)


def nanos(when: datetime) -> int:
    delta = when.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def tracer_to(exporter: SpanExporter) -> Tracer:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("tests")


def emit(tracer: Tracer, req: Req) -> None:
    """Children end before the root, as in the service, so a per-span exporter sees them first."""
    start = nanos(req.at)
    attributes: dict[str, object] = {
        c.ROOT_SPAN_MARKER: True,
        c.REQUEST_ID: req.request_id,
        c.PROMPT_NAME: "email_triage",
        c.PROMPT_VERSION: req.version,
        c.GEN_AI_REQUEST_MODEL: req.model,
        c.GEN_AI_RESPONSE_MODEL: req.model,
        c.GEN_AI_PROVIDER_NAME: req.provider,
        c.STATUS: req.status,
        "http.response.status_code": 500 if req.status == "error" else 200,
        c.TOTAL_INPUT_TOKENS: req.input_tokens,
        c.TOTAL_OUTPUT_TOKENS: req.output_tokens,
        c.RETRY_COUNT: req.retries,
        c.DEGRADED: req.status == "degraded",
        c.LATENCY_MS: req.latency_ms,
        c.USER_ID: "u_0123456789abcdef0123",
        **req.attributes,
    }
    if req.cost_usd is not None:
        attributes[c.COST_USD] = req.cost_usd
    if req.status == "error":
        attributes[c.ERROR_TYPE] = "AllProvidersFailed"
    root = tracer.start_span(c.ROOT_SPAN, kind=SpanKind.SERVER, attributes=attributes, start_time=start)
    context = trace.set_span_in_context(root)
    offset = start
    for name, ms in req.tools:
        child = tracer.start_span(
            f"execute_tool {name}", context=context, start_time=offset, attributes={c.GEN_AI_TOOL_NAME: name}
        )
        offset += int(ms * 1_000_000)
        child.end(end_time=offset)
    if req.status == "error":
        root.set_status(Status(StatusCode.ERROR))
    root.end(end_time=start + int(req.latency_ms * 1_000_000))


def capture(reqs: Sequence[Req]) -> list[ReadableSpan]:
    """The finished spans of these requests, in end order (what a batch processor would queue)."""
    memory = InMemorySpanExporter()
    tracer = tracer_to(memory)
    for req in reqs:
        emit(tracer, req)
    return list(memory.get_finished_spans())
