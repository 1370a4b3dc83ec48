"""The report as data: what `llmops report --json` prints and what the dashboard can reuse."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

QuantileMethod = Literal["exact", "histogram", "none"]


class VersionSummary(BaseModel):
    prompt_version: str = Field(description="'' for requests that failed before a version was chosen.")
    requests: int
    errors: int
    error_rate: float
    degraded: int
    avg_latency_ms: float | None
    p95_latency_ms: float | None
    cost_usd: float
    input_tokens: int
    output_tokens: int


class StepSummary(BaseModel):
    name: str = Field(description="Span name: `execute_tool lookup_contact`, `chat <model>`, `parse_email` …")
    calls: int
    errors: int
    error_rate: float
    avg_ms: float | None
    p95_ms: float | None


class ToolLatency(BaseModel):
    tool: str
    calls: int
    avg_ms: float


class Report(BaseModel):
    window_start: datetime | None = Field(description="None: since the first stored request.")
    window_end: datetime
    prompt_version_filter: str | None
    model_filter: str | None = None
    provider_filter: str | None = None
    assistant_filter: str | None = None
    requests: int
    errors: int
    error_rate: float
    degraded: int
    degraded_rate: float
    retries: int
    input_tokens: int
    output_tokens: int
    cost_usd: float = Field(description="Sum over priced requests.")
    unpriced_requests: int = Field(description="Requests whose cost is unknown (not in `cost_usd`).")
    avg_latency_ms: float | None
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p95_method: QuantileMethod = Field(
        description="`exact` from raw rows (small windows), `histogram` interpolated from rollup buckets."
    )
    step_p95_method: QuantileMethod
    top_tool: ToolLatency | None = Field(description="The tool with the highest average latency.")
    prompt_version: str | None = Field(description="The filtered version, else the most used one.")
    versions: list[VersionSummary]
    steps: list[StepSummary]
