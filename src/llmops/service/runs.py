"""One request of an assistant, inside its root span: `run_assistant` (and `run_triage`), and the
eval runner's in-process target built on it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from pydantic import BaseModel, ValidationError

from llmops.assistants import code_version
from llmops.budgets.store import Subjects
from llmops.evals.runner import CachedCall, EvalTarget
from llmops.prompts.registry import PromptNotFound
from llmops.prompts.router import Route
from llmops.redaction import Redactor
from llmops.sdk import ModelUnavailable, RunContext, TokenUsage
from llmops.service.recording import untraced_root
from llmops.service.system import GATEKEEPER, AnyAssistant, AssistantNotFound, Services
from llmops.storage.request_rows import new_request_id
from llmops.telemetry import conventions as c
from llmops.telemetry.messages import text_message

logger = logging.getLogger("llmops")


@dataclass(frozen=True)
class RunOptions:
    """Who asks for a run and how. `route` is the HTTP route template (None in-process); `parent`
    is the caller's trace context; `prompt_version` overrides the router; `eval` stores the request
    outside live figures."""

    request_id: str
    user_id: str | None = None
    api_key_fingerprint: str | None = None
    client_request_id: str | None = None
    prompt_version: str | None = None
    route: str | None = None
    parent: Context | None = None
    eval: bool = False


class RunReply(BaseModel):
    """What every run reply carries besides the output (`POST /v1/assistants/{name}/runs`)."""

    request_id: str
    prompt_version: str
    model: str
    provider: str
    usage: TokenUsage
    cost_usd: float | None = None
    latency_ms: float
    retries: int
    degraded: bool


@dataclass
class AssistantRun:
    """One request as served: the output (redacted when configured) and what it took."""

    request_id: str
    assistant: str
    output: BaseModel
    context: RunContext
    latency_ms: float
    trace_id: str | None = None

    def meta(self) -> RunReply:
        ctx = self.context
        provider, model = ctx.reply_model()
        return RunReply(
            request_id=self.request_id,
            prompt_version=ctx.prompt.id,
            model=model,
            provider=provider,
            usage=ctx.usage.model_copy(),
            cost_usd=ctx.cost_usd,
            latency_ms=round(self.latency_ms, 3),
            retries=ctx.retries,
            degraded=ctx.is_degraded,
        )


def check_prompt_version(services: Services, assistant: AnyAssistant, version: str) -> None:
    """An explicit version must be one of the assistant's prompt (`PromptNotFound` otherwise)."""
    if services.prompts.get(version).name != assistant.prompt_name:
        raise PromptNotFound(f"{version!r} is not a version of prompt {assistant.prompt_name!r}")


async def run_triage(services: Services, email: BaseModel, options: RunOptions) -> AssistantRun:
    """Triage one email with the Email Gatekeeper (`POST /v1/triage`, `llmops triage`)."""
    return await run_assistant(services, services.assistant(GATEKEEPER), email, options)


async def run_assistant(
    services: Services, assistant: AnyAssistant, input: BaseModel, options: RunOptions
) -> AssistantRun:
    """Run one request of `assistant` inside its root span, within the caller's budgets.

    Raises `BudgetExceededError` before any work when a budget has no room, `PromptNotFound` for an
    explicit version that is not one of the assistant's prompt, and `ModelUnavailable` when every
    provider failed and the assistant has no fallback."""
    started = time.perf_counter()
    if options.prompt_version is not None:
        check_prompt_version(services, assistant, options.prompt_version)
    user = services.telemetry.pseudonymise(options.user_id)
    subjects = Subjects(user=user, api_key=options.api_key_fingerprint, assistant=assistant.name)
    route = await services.router.route(
        assistant.prompt_name, user or options.request_id, options.prompt_version
    )
    prompt = services.prompts.get(route.version)

    def plan() -> tuple[int, int | None]:  # run off the loop, only when a budget exists
        chars, max_tokens = assistant.planned_call(input, prompt)
        cap = services.settings.max_output_tokens
        return chars, cap if max_tokens is None else min(max_tokens, cap)

    async with services.budgets.hold(subjects, plan) as hold:
        run = await _run_in_root_span(services, assistant, input, options, user, started, route)
        usage = run.context.usage
        hold.record(usage.input_tokens + usage.output_tokens, run.context.cost_usd)
    return run


async def _run_in_root_span(
    services: Services,
    assistant: AnyAssistant,
    input: BaseModel,
    options: RunOptions,
    user: str | None,
    started: float,
    route: Route,
) -> AssistantRun:
    telemetry = services.telemetry
    start_ns = time.time_ns()
    attributes = root_attributes(assistant, options, user)
    name = f"POST {options.route}" if options.route else in_process_span_name(assistant)
    kind = SpanKind.SERVER if options.route else SpanKind.INTERNAL
    with telemetry.tracer.start_as_current_span(
        name, context=options.parent, kind=kind, attributes=attributes
    ) as span:
        context = span.get_span_context()
        trace_id = format(context.trace_id, "032x") if context.is_valid else None
        span.set_attribute(c.CANARY, route.canary)
        try:
            ctx = RunContext(
                prompt=services.prompts.get(route.version),
                request_id=options.request_id,
                telemetry=telemetry,
                chain=services.chain,
                max_output_tokens=services.settings.max_output_tokens,
            )
            with services.chain.deadline(services.settings.request_deadline_s):
                try:
                    output = await assistant.run(input, ctx)
                except ModelUnavailable:
                    output = await assistant.fallback(input, ctx, "providers_failed")
                    if not ctx.is_degraded:
                        ctx.degraded(output, "providers_failed")
            if not isinstance(output, assistant.output_model):
                raise TypeError(
                    f"assistant {assistant.name!r} returned a {type(output).__name__}, "
                    f"not its output model {assistant.output_model.__name__}"
                )
        except Exception as exc:
            span.set_attributes({c.STATUS: "error", c.ERROR_TYPE: type(exc).__name__})
            if options.route:
                span.set_attribute(
                    "http.response.status_code", 503 if isinstance(exc, ModelUnavailable) else 500
                )
            span.set_status(Status(StatusCode.ERROR))
            telemetry.instruments.record_error(error_type="internal_error")
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        if ctx.is_degraded:
            logger.warning(
                "degraded reply",
                extra={
                    "assistant": assistant.name,
                    "reason": ctx.degraded_reason,
                    "latency_ms": round(latency_ms),
                },
            )
        outcome_attrs = outcome_attributes(ctx, assistant.label(output), latency_ms)
        if options.route:
            outcome_attrs["http.response.status_code"] = 200
        span.set_attributes(outcome_attrs)
        # What the caller received (the model's output or the degraded one), under content capture.
        telemetry.content(
            span, c.GEN_AI_OUTPUT_MESSAGES, [text_message("assistant", output.model_dump_json())]
        )
    root: Span | ReadableSpan = span
    if not isinstance(span, ReadableSpan):  # telemetry off, or not sampled: the row all the same
        recorded = {**attributes, c.CANARY: route.canary, **outcome_attrs}
        root = untraced_root(name, kind, recorded, start_ns, time.time_ns())
    request_id = await persist_request(services, root) or options.request_id
    if services.settings.redact_replies:
        output = redact_output(services.redactor, output)
    return AssistantRun(request_id, assistant.name, output, ctx, latency_ms, trace_id)


async def persist_request(services: Services, span: Span | ReadableSpan) -> str | None:
    """Write the request row of an ended root span before its reply, and return the id it is stored
    under (a fresh one when another request, on any replica, holds the span's id).

    Every producer of root spans (assistant runs, the gateway) calls this between ending the span and
    replying, so an acknowledged request survives a crash; spans still go through the batch exporter,
    which then skips this row. Rows of concurrent requests share one commit (`RowWriter`). None when
    the span is not a root span of ours."""
    return await services.rows.store(span)


def in_process_span_name(assistant: AnyAssistant) -> str:
    """The root span of a run without HTTP: `triage` for the Email Gatekeeper (as always), else the
    GenAI `invoke_agent {name}`."""
    return c.IN_PROCESS_ROOT_SPAN if assistant.name == GATEKEEPER else f"invoke_agent {assistant.name}"


def root_attributes(
    assistant: AnyAssistant, options: RunOptions, user: str | None
) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        c.ROOT_SPAN_MARKER: True,
        c.REQUEST_ID: options.request_id,
        c.GEN_AI_OPERATION_NAME: "invoke_agent",
        c.GEN_AI_AGENT_NAME: assistant.name,
        c.PROMPT_NAME: assistant.prompt_name,
    }
    if options.route:
        attributes["http.request.method"] = "POST"
        attributes["http.route"] = options.route
    if options.client_request_id is not None and options.client_request_id != options.request_id:
        attributes[c.CLIENT_REQUEST_ID] = options.client_request_id
    if options.eval:
        attributes[c.EVAL] = True
    if user:
        attributes[c.USER_ID] = user
    return attributes


def outcome_attributes(ctx: RunContext, label: str | None, latency_ms: float) -> dict[str, AttributeValue]:
    provider, model = ctx.reply_model()
    attributes: dict[str, AttributeValue] = {
        c.PROMPT_VERSION: ctx.prompt.id,
        c.GEN_AI_REQUEST_MODEL: model,
        c.GEN_AI_RESPONSE_MODEL: model,
        c.GEN_AI_PROVIDER_NAME: provider,
        c.STATUS: "degraded" if ctx.is_degraded else "ok",
        c.TOTAL_INPUT_TOKENS: ctx.usage.input_tokens,
        c.TOTAL_OUTPUT_TOKENS: ctx.usage.output_tokens,
        c.RETRY_COUNT: ctx.retries,
        c.DEGRADED: ctx.is_degraded,
        c.LATENCY_MS: latency_ms,
        c.MODEL_CALLS: ctx.model_calls,
    }
    if label is not None:
        attributes[c.CATEGORY] = label
    if ctx.degraded_reason:
        attributes[c.DEGRADED_REASON] = ctx.degraded_reason
    if ctx.cost_usd is not None:
        attributes[c.COST_USD] = ctx.cost_usd
    if ctx.price_source is not None:
        attributes[c.PRICE_SOURCE] = ctx.price_source
    return attributes


def redact_output(redactor: Redactor, output: BaseModel) -> BaseModel:
    """Mask secrets and personal data the model may have copied from the input into any string of
    its reply. A masked reply that no longer validates (a placeholder longer than a field allows)
    is kept as masked, unvalidated: masking wins over the schema."""
    masked = _redact_strings(redactor, output.model_dump(mode="json"))
    try:
        return type(output).model_validate(masked)
    except ValidationError:
        return type(output).model_construct(**masked)


def _redact_strings(redactor: Redactor, value: Any) -> Any:
    if isinstance(value, str):
        return redactor.redact(value)
    if isinstance(value, list):
        return [_redact_strings(redactor, item) for item in value]
    if isinstance(value, dict):
        return {key: _redact_strings(redactor, item) for key, item in value.items()}
    return value


class InProcessTarget(EvalTarget):
    """Eval cases run through `run_assistant` on these services, each stored as an eval request.

    The assistant is the one whose prompt `prompt_version` belongs to; an input its model rejects is
    an errored case (`invalid_input`), not a crash."""

    name = "in-process"

    def __init__(self, services: Services, prompt_version: str) -> None:
        self.services = services
        self.prompt_version = prompt_version
        self.version = services.prompts.get(prompt_version)
        owners = [a for a in services.assistants.values() if a.prompt_name == self.version.name]
        if not owners:
            raise AssistantNotFound(f"no loaded assistant serves prompt {self.version.name!r}")
        self.runs = owners[0]
        self.assistant = self.runs.name
        self.output_model = self.runs.output_model
        settings = services.settings
        self.provider = settings.provider
        self.model = settings.model_for(settings.provider)
        self.code_version = code_version(self.runs)

    def identity(self) -> tuple[str, str, str]:
        return f"{self.version.content_hash}|{self.code_version}", self.provider or "", self.model or ""

    async def call(self, payload: dict[str, Any]) -> CachedCall:
        try:
            input = self.runs.input_model.model_validate(payload)
        except ValidationError:
            return CachedCall(output=None, error="invalid_input", prompt_version=self.prompt_version)
        options = RunOptions(request_id=new_request_id(), prompt_version=self.prompt_version, eval=True)
        run = await run_assistant(self.services, self.runs, input, options)
        meta = run.meta()
        return CachedCall(
            output=run.output.model_dump(mode="json"),
            degraded=meta.degraded,
            prompt_version=meta.prompt_version,
            provider=meta.provider,
            model=meta.model,
            latency_ms=run.latency_ms,
            input_tokens=meta.usage.input_tokens,
            output_tokens=meta.usage.output_tokens,
            cost_usd=meta.cost_usd,
            request_id=run.request_id,
            trace_id=run.trace_id,
        )
