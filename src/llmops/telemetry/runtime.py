"""What instrumented code holds: a tracer, the metric instruments, and the few settings that shape them.

The assistant and the provider chain receive one `Telemetry` from the app factory instead of reading
OpenTelemetry's process-global providers, so several apps (tests, benchmarks) can live in one process
and the disabled case is a real no-op, not a code path with `if` checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry.trace import NoOpTracer, Span, Status, StatusCode, Tracer

from llmops.telemetry import conventions as c
from llmops.telemetry.cost import Cost, LocalPrices, ModelPrices, price_call
from llmops.telemetry.metrics import Instruments


@dataclass(frozen=True)
class Telemetry:
    tracer: Tracer = field(default_factory=NoOpTracer)
    instruments: Instruments = field(default_factory=Instruments.noop)
    capture_content: bool = False
    local_prices: LocalPrices = field(default_factory=LocalPrices)
    model_prices: ModelPrices = field(default_factory=ModelPrices)
    openai_base_url: str | None = None
    pseudonym_key: bytes = b""

    @classmethod
    def noop(cls) -> Telemetry:
        return cls()

    def price(
        self, provider: str, model: str, input_tokens: int, output_tokens: int, cached_tokens: int | None
    ) -> Cost:
        return price_call(
            provider,
            model,
            input_tokens,
            output_tokens,
            cached_tokens,
            local_prices=self.local_prices,
            base_url=self.openai_base_url,
            model_prices=self.model_prices,
        )

    def pseudonymise(self, user_id: str | None) -> str | None:
        return pseudonym(self.pseudonym_key, user_id)

    @contextmanager
    def step(
        self, name: str, attributes: dict[str, object] | None = None, *, step: str | None = None
    ) -> Iterator[Span]:
        """A child span for one pipeline step, timed into `llmops.step.duration`."""
        started = time.perf_counter()
        attrs = {c.STEP: step or name, **(attributes or {})}
        with self.tracer.start_as_current_span(name, attributes=attrs) as span:  # type: ignore[arg-type]
            try:
                yield span
            finally:
                self.instruments.record_step_duration(
                    step=step or name, seconds=time.perf_counter() - started
                )

    @contextmanager
    def tool(self, name: str, call_id: str) -> Iterator[Span]:
        """A tool-call span (`execute_tool {name}`), timed into `llmops.tool.duration`; the caller marks errors."""
        started = time.perf_counter()
        attrs = {
            c.STEP: "execute_tool",
            c.GEN_AI_OPERATION_NAME: "execute_tool",
            c.GEN_AI_TOOL_NAME: name,
            c.GEN_AI_TOOL_CALL_ID: call_id,
        }
        with self.tracer.start_as_current_span(f"execute_tool {name}", attributes=attrs) as span:
            try:
                yield span
            finally:
                failed = span.is_recording() and getattr(span, "attributes", {}).get(c.ERROR_TYPE) is not None
                self.instruments.record_tool_duration(
                    tool=name,
                    seconds=time.perf_counter() - started,
                    error_type="tool_error" if failed else None,
                )

    def content(self, span: Span, key: str, value: object) -> None:
        """Put content on a span only when capture is on; the exporter redacts it before any sink."""
        if not self.capture_content or not span.is_recording():
            return
        span.set_attribute(key, value if isinstance(value, str) else json.dumps(value, default=str))


def pseudonym(key: bytes, user_id: str | None) -> str | None:
    """A stable, keyed stand-in for a user id: joinable across requests, not reversible."""
    if not user_id:
        return None
    digest = hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"u_{digest[:20]}"


def mark_error(span: Span, error_type: str, message: str | None = None) -> None:
    span.set_attribute(c.ERROR_TYPE, error_type)
    span.set_status(Status(StatusCode.ERROR, message))
