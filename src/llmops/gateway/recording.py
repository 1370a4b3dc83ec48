"""What a gateway call leaves behind: root span attributes, model span usage and cost, metrics.

The root span carries everything the store exporter needs for the request row (`llmops.root`,
`llmops.source=gateway`, request id, agent `gateway`, pseudonymous user, session, prompt version,
models, provider, tokens, cost, retries, latency, status and HTTP status), so the row is complete
whichever way it is written. `Root` keeps those attributes too, so the row is written even when
tracing did not record the span (`LLMOPS_TELEMETRY=false`, or not sampled).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from llmops.gateway.bodies import Caller
from llmops.gateway.messages import Usage
from llmops.gateway.upstreams import Target
from llmops.storage.tables import GATEWAY_SOURCE
from llmops.telemetry import conventions as c
from llmops.telemetry.cost import Cost, LocalPrices, price_call
from llmops.telemetry.runtime import Telemetry
from llmops.telemetry.untraced import untraced_root

AGENT_NAME = "gateway"
HTTP_STATUS = "http.response.status_code"
T = TypeVar("T")
_UNPRICED = LocalPrices(input_per_mtok=0.0, output_per_mtok=0.0)  # never read: priced by genai-prices


@dataclass(slots=True)
class Success(Generic[T]):
    """The target that answered, what it answered, its still-open model span, and the retries spent."""

    target: Target
    result: T
    span: Span
    retries: int
    started: float


class Root:
    """A call's root span and every attribute set on it through `set`, from the call's start."""

    __slots__ = ("attributes", "name", "span", "start_ns", "started")

    def __init__(self, tracer: Tracer, caller: Caller, attributes: dict[str, Any], started: float) -> None:
        self.name = f"POST {caller.route}"
        self.attributes = attributes
        self.started = started
        self.start_ns = time.time_ns()
        self.span = tracer.start_span(
            self.name, context=caller.parent, kind=SpanKind.SERVER, attributes=attributes
        )

    def set(self, attributes: dict[str, Any]) -> None:
        self.attributes.update(attributes)
        self.span.set_attributes(attributes)

    def end(self) -> ReadableSpan:
        """End the span; what its request row is made of (rebuilt when tracing did not record it)."""
        self.span.end()
        if isinstance(self.span, ReadableSpan):
            return self.span
        return untraced_root(self.name, SpanKind.SERVER, self.attributes, self.start_ns, time.time_ns())


def root_attributes(
    caller: Caller, user: str | None, alias: str, served: str, canary: bool, operation: str
) -> dict[str, Any]:
    """`alias` is the model the client asked for, `served` the alias that serves it (a model canary's
    arm), recorded on the request row so the canary controller can compare the arms."""
    attributes: dict[str, Any] = {
        c.ROOT_SPAN_MARKER: True,
        c.SOURCE: GATEWAY_SOURCE,
        c.REQUEST_ID: caller.request_id,
        c.GEN_AI_OPERATION_NAME: operation,
        c.GEN_AI_AGENT_NAME: AGENT_NAME,
        c.GEN_AI_REQUEST_MODEL: alias,
        c.CANARY: canary,
        c.GATEWAY_ALIAS: served,
        "http.request.method": "POST",
        "http.route": caller.route,
    }
    if user:
        attributes[c.USER_ID] = user
    if caller.session_id:
        attributes[c.GEN_AI_CONVERSATION_ID] = caller.session_id
    if caller.prompt_version:
        attributes[c.PROMPT_VERSION] = caller.prompt_version
    if caller.client_request_id is not None and caller.client_request_id != caller.request_id:
        attributes[c.CLIENT_REQUEST_ID] = caller.client_request_id
    if caller.eval:
        attributes[c.EVAL] = True
    return attributes


def _exact(target: Target, model: str, input_tokens: int, output_tokens: int, cached: int | None) -> Cost:
    return price_call(
        "local" if target.price is not None else "openai",
        model,
        input_tokens,
        output_tokens,
        cached,
        local_prices=target.price or _UNPRICED,
        base_url=target.upstream.base_url,
    )


_PROBE_SMALL, _PROBE_LARGE = 1_000, 1_000_000


@lru_cache(maxsize=512)
def _rates(target: Target, model: str) -> tuple[float, float, float, str] | None:
    """USD per uncached input, cached input and output token, when the model's prices are flat.

    genai-prices resolves its price tables on every call (about half a millisecond), so a model's
    rates are read once and reused. Flat means a thousand tokens cost exactly a thousandth of a
    million in every dimension; a tiered model fails that and is priced exactly on every call."""
    rates = []
    source = ""
    for inputs, outputs, cached in ((1, 0, 0), (1, 0, 1), (0, 1, 0)):
        small = _exact(
            target, model, inputs * _PROBE_SMALL, outputs * _PROBE_SMALL, cached * _PROBE_SMALL or None
        )
        large = _exact(
            target, model, inputs * _PROBE_LARGE, outputs * _PROBE_LARGE, cached * _PROBE_LARGE or None
        )
        if (
            small.usd is None
            or large.usd is None
            or not math.isclose(small.usd * 1000, large.usd, rel_tol=1e-9)
        ):
            return None
        rates.append(large.usd / _PROBE_LARGE)
        source = large.source
    return rates[0], rates[1], rates[2], source


def price(target: Target, model: str, usage: Usage) -> Cost:
    """A configured price for self-hosted models; else genai-prices (OpenAI's own host priced as OpenAI,
    any other host by model id alone). `input_tokens` includes the cached ones, as OpenAI reports them."""
    cached = usage.cached_tokens or 0
    rates = _rates(target, model)
    if (
        rates is None
        or min(usage.input_tokens, usage.output_tokens, cached) < 0
        or cached > usage.input_tokens
    ):
        return _exact(target, model, usage.input_tokens, usage.output_tokens, usage.cached_tokens)
    uncached_rate, cached_rate, output_rate, source = rates
    usd = (
        (usage.input_tokens - cached) * uncached_rate
        + cached * cached_rate
        + usage.output_tokens * output_rate
    )
    return Cost(usd=round(usd, 12), source=source)


def record_model_call(
    telemetry: Telemetry, success: Success[Any], model: str, usage: Usage, finish: list[str]
) -> Cost:
    """Usage, finish reasons and cost on the model span, and into the metrics; ends the span."""
    span, provider = success.span, success.target.upstream.name
    cost = price(success.target, model, usage)
    attributes: dict[str, Any] = {
        c.GEN_AI_RESPONSE_MODEL: model,
        c.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
        c.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
        c.PRICE_SOURCE: cost.source,
    }
    if finish:
        attributes[c.GEN_AI_RESPONSE_FINISH_REASONS] = finish
    if usage.cached_tokens is not None:
        attributes[c.GEN_AI_USAGE_CACHED_INPUT_TOKENS] = usage.cached_tokens
    if cost.usd is not None:
        attributes[c.COST_USD] = cost.usd
    span.set_attributes(attributes)
    span.end()
    instruments = telemetry.instruments
    instruments.record_token_usage(
        provider=provider, model=model, input_tokens=usage.input_tokens, output_tokens=usage.output_tokens
    )
    instruments.record_operation_duration(
        provider=provider, model=model, seconds=time.perf_counter() - success.started
    )
    instruments.record_cost(provider=provider, model=model, usd=cost.usd)
    return cost


def finish_root(
    root: Root, success: Success[Any], model: str, usage: Usage, cost: Cost, error_type: str | None
) -> None:
    """The outcome on the root span: what the request row and the reports read."""
    attributes: dict[str, Any] = {
        c.GEN_AI_RESPONSE_MODEL: model,
        c.GEN_AI_PROVIDER_NAME: success.target.upstream.name,
        c.STATUS: "error" if error_type else "ok",
        c.TOTAL_INPUT_TOKENS: usage.input_tokens,
        c.TOTAL_OUTPUT_TOKENS: usage.output_tokens,
        c.RETRY_COUNT: success.retries,
        c.LATENCY_MS: (time.perf_counter() - root.started) * 1000,
        c.MODEL_CALLS: 1,
        c.PRICE_SOURCE: cost.source,
        HTTP_STATUS: 200,
    }
    if cost.usd is not None:
        attributes[c.COST_USD] = cost.usd
    if error_type:
        attributes[c.ERROR_TYPE] = error_type
        root.span.set_status(Status(StatusCode.ERROR))
    root.set(attributes)


def fail_root(root: Root, error_type: str, status: int, retries: int) -> None:
    root.set(
        {
            c.STATUS: "error",
            c.ERROR_TYPE: error_type,
            HTTP_STATUS: status,
            c.RETRY_COUNT: retries,
            c.LATENCY_MS: (time.perf_counter() - root.started) * 1000,
        }
    )
    root.span.set_status(Status(StatusCode.ERROR))
