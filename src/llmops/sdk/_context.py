"""`RunContext`: what one request of an assistant may use, and what its model calls added up to.

The service builds one per request, inside the request's root span, over the process's telemetry
and provider chain. Every span it opens is a child of that root span; every model call goes through
the chain (retries, breakers, fallback providers, cost, GenAI attributes), and captured content is
only set when capture is on (the exporter redacts it before any sink).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from opentelemetry.trace import Span
from pydantic import BaseModel

from llmops.prompts.registry import PromptVersion
from llmops.providers.base import ChatRequest, ChatResponse
from llmops.providers.errors import AllProvidersFailed, Attempt
from llmops.providers.resilience import ProviderChain
from llmops.telemetry import conventions as c
from llmops.telemetry.runtime import Telemetry, mark_error

T = TypeVar("T")

FALLBACK = "fallback"


class TokenUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Retrieval:
    """An open retrieval span: report what the search returned with `found`."""

    span: Span
    _telemetry: Telemetry

    def found(self, documents: Sequence[object]) -> None:
        """Record how many documents came back (always) and the documents (only when capture is on)."""
        self.span.set_attribute(c.RETRIEVAL_COUNT, len(documents))
        self._telemetry.content(self.span, c.GEN_AI_RETRIEVAL_DOCUMENTS, [_plain(doc) for doc in documents])


@dataclass
class RunContext:
    """One request's handle on llmops, built by the service for each request (an assistant never
    builds one; tests of an assistant get one from `llmops.service`).

    `prompt` is the version routed to this request (explicit, canary or production). The counters
    (`usage`, `retries`, `model_calls`, `cost_usd`) add up every `chat`; `model` and `provider` are the
    last answer's. `degraded(output, reason)` marks the reply as a fallback."""

    prompt: PromptVersion
    request_id: str
    telemetry: Telemetry
    chain: ProviderChain
    max_output_tokens: int = 320
    usage: TokenUsage = field(default_factory=TokenUsage)
    retries: int = 0
    model_calls: int = 0
    cost_usd: float | None = None
    price_source: str | None = None
    model: str | None = None
    provider: str | None = None
    degraded_reason: str | None = None

    @property
    def is_degraded(self) -> bool:
        return self.degraded_reason is not None

    @property
    def supports_tools(self) -> bool:
        """True when the primary provider can choose tools itself (OpenAI-compatible `tools`)."""
        return self.chain.primary.supports_tools

    @property
    def capture_content(self) -> bool:
        return self.telemetry.capture_content

    @contextmanager
    def step(self, name: str, attributes: dict[str, object] | None = None) -> Iterator[Span]:
        """A child span for one step of the assistant, timed into `llmops.step.duration`."""
        with self.telemetry.step(name, attributes) as span:
            yield span

    @contextmanager
    def tool(self, name: str, call_id: str, arguments: object = None) -> Iterator[Span]:
        """An `execute_tool {name}` span; the arguments are captured when capture is on. Record the
        result with `tool_result`, a failure with `ctx.mark_error(span, "tool_error")`."""
        with self.telemetry.tool(name, call_id) as span:
            if arguments is not None:
                self.telemetry.content(span, c.GEN_AI_TOOL_CALL_ARGUMENTS, arguments)
            yield span

    def tool_result(self, span: Span, result: object) -> None:
        self.telemetry.content(span, c.GEN_AI_TOOL_CALL_RESULT, result)

    @staticmethod
    def mark_error(span: Span, error_type: str, message: str | None = None) -> None:
        """Mark a span failed (`error.type`, status ERROR): a tool that errored, a step that gave up."""
        mark_error(span, error_type, message)

    @contextmanager
    def retrieval(self, source_id: str, query: str, top_k: int | None = None) -> Iterator[Retrieval]:
        """A `retrieval {source_id}` span (GenAI `retrieval` operation); the query is captured when
        capture is on. Call `found(documents)` on the handle with what the search returned."""
        attributes: dict[str, object] = {
            c.GEN_AI_OPERATION_NAME: "retrieval",
            c.GEN_AI_DATA_SOURCE_ID: source_id,
        }
        if top_k is not None:
            attributes[c.GEN_AI_RETRIEVAL_TOP_K] = top_k
        with self.telemetry.step(f"retrieval {source_id}", attributes, step="retrieval") as span:
            self.telemetry.content(span, c.GEN_AI_RETRIEVAL_QUERY_TEXT, query)
            yield Retrieval(span, self.telemetry)

    def content(self, span: Span, key: str, value: object) -> None:
        """Put request content on a span, only when capture is on (redacted before any sink)."""
        self.telemetry.content(span, key, value)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One model call through the provider chain; raises `ModelUnavailable` when every provider
        failed. `max_tokens` is capped at the service's output token limit."""
        if request.max_tokens > self.max_output_tokens:
            request = request.model_copy(update={"max_tokens": self.max_output_tokens})
        try:
            result = await self.chain.chat(request)
        except AllProvidersFailed as exc:
            self.retries += exc.retries
            self.model_calls += _reached(exc.attempts)
            raise
        response = result.response
        self.usage.input_tokens += response.usage.input_tokens
        self.usage.output_tokens += response.usage.output_tokens
        self.retries += result.retries
        self.model_calls += max(_reached(result.attempts), 1)
        if result.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + result.cost_usd
        self.price_source = result.price_source
        self.model, self.provider = response.model, response.provider
        return response

    def degraded(self, output: T, reason: str, *, provider: str = FALLBACK, model: str = FALLBACK) -> T:
        """Mark the reply as degraded (`reason`: e.g. `providers_failed`, `invalid_output`) and return
        it. The reply then names `provider`/`model` (what produced it instead of the model)."""
        with self.telemetry.step("fallback", {c.DEGRADED_REASON: reason}):
            self.telemetry.instruments.record_degraded(reason=reason)
        self.degraded_reason = reason
        self.provider, self.model = provider, model
        return output

    def reply_model(self) -> tuple[str, str]:
        """(provider, model) for the reply: the last answer's, or the chain's primary before any call."""
        primary = self.chain.primary
        return self.provider or primary.name, self.model or primary.model


def _reached(attempts: Sequence[Attempt]) -> int:
    """Attempts that called a provider (a breaker's rejection did not): `llmops.model_calls` counts them."""
    return sum(1 for attempt in attempts if attempt.outcome != "rejected")


def _plain(document: object) -> object:
    if isinstance(document, BaseModel):
        return document.model_dump(mode="json")
    try:
        json.dumps(document)
    except (TypeError, ValueError):
        return str(document)
    return document
