"""The Email Gatekeeper pipeline: each step is its own function so telemetry can wrap it in a span.

    parse_email → retrieve_policies → plan + run tools → rule-based suggestion → build prompt
    → model call → validate (one repair call if invalid) → triage, or the rule-based fallback

The rule-based triage is computed on every request: it is a hint in the prompt (a tiny local model
needs one) and the degraded reply when every provider fails or the output cannot be repaired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops.assistant.knowledge import KnowledgeBase, Passage
from llmops.assistant.normalize import ParsedEmail, parse_email
from llmops.assistant.output import TriageParseError, parse_triage
from llmops.assistant.rules import TriageContext, rule_based_triage
from llmops.assistant.schema import Email, TokenUsage, Triage
from llmops.assistant.tools import Toolbox, ToolCall, ToolResult, plan_tool_calls
from llmops.prompts.registry import PromptRegistry, PromptVersion
from llmops.providers.base import ChatRequest, ChatResponse, Message
from llmops.providers.errors import AllProvidersFailed, Attempt
from llmops.providers.resilience import ChainResult, ProviderChain
from llmops.telemetry import conventions as c
from llmops.telemetry.runtime import Telemetry, mark_error

ASSISTANT_NAME = "email_gatekeeper"
PROMPT_NAME = "email_triage"
KNOWLEDGE_BASE_ID = "northwind-policies"
FALLBACK_PROVIDER = "rules"
FALLBACK_MODEL = "rule-based"
BODY_CHARS_IN_PROMPT = 1200


@dataclass
class TriageOutcome:
    triage: Triage
    prompt_version: str
    model: str
    provider: str
    usage: TokenUsage = field(default_factory=TokenUsage)
    retries: int = 0
    degraded: bool = False
    degraded_reason: str | None = None
    model_calls: int = 0
    cost_usd: float | None = None
    price_source: str | None = None


@dataclass
class _ModelRun:
    """What the model calls of one request added up to."""

    usage: TokenUsage = field(default_factory=TokenUsage)
    retries: int = 0
    calls: int = 0
    cost_usd: float | None = None
    price_source: str | None = None
    last: ChatResponse | None = None

    def add(self, result: ChainResult) -> None:
        response = result.response
        self.usage.input_tokens += response.usage.input_tokens
        self.usage.output_tokens += response.usage.output_tokens
        self.retries += result.retries
        self.calls += max(_reached(result.attempts), 1)
        if result.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + result.cost_usd
        self.price_source = result.price_source
        self.last = response


def _reached(attempts: Sequence[Attempt]) -> int:
    """Attempts that called a provider (a breaker's rejection did not): `llmops.model_calls` counts them."""
    return sum(1 for attempt in attempts if attempt.outcome != "rejected")


RETRIEVAL_LIMIT = 2
PROVIDERS_FAILED, INVALID_OUTPUT = "providers_failed", "invalid_output"  # why a reply is degraded


def retrieval_query(parsed: ParsedEmail) -> str:
    return f"{parsed.subject} {parsed.body[:400]}"


def retrieve_policies(
    knowledge: KnowledgeBase, parsed: ParsedEmail, limit: int = RETRIEVAL_LIMIT
) -> list[Passage]:
    return knowledge.search(retrieval_query(parsed), limit=limit)


def build_context(
    passages: list[Passage], tool_results: list[ToolResult], owner_name: str | None
) -> TriageContext:
    return TriageContext.from_results(passages=passages, tool_results=tool_results, owner_name=owner_name)


def prompt_variables(parsed: ParsedEmail, context: TriageContext, suggestion: Triage) -> dict[str, Any]:
    """What a prompt template may use: the email, tool results, policies and the rules' suggestion."""
    return {
        "sender": parsed.sender_display,
        "contact": context.describe_contact(),
        "calendar": context.describe_calendar(),
        "policies": [{"title": p.title, "text": p.text} for p in context.passages],
        "suggestion": {
            "category": suggestion.category.value,
            "priority": suggestion.priority,
            "reason": context.describe_signals(parsed),
        },
        "subject": parsed.subject,
        "body": parsed.body[:BODY_CHARS_IN_PROMPT],
    }


def validate_output(text: str) -> tuple[Triage | None, list[str]]:
    try:
        return parse_triage(text), []
    except TriageParseError as exc:
        return None, exc.problems


class Gatekeeper:
    """Runs the pipeline for one email against a provider chain and a prompt version.

    Every step runs inside its own span (`Telemetry.step`); model calls get theirs from the chain.
    The caller picks the prompt version (the service routes it: explicit, canary or production).
    """

    def __init__(
        self,
        chain: ProviderChain,
        prompts: PromptRegistry,
        toolbox: Toolbox,
        knowledge: KnowledgeBase,
        max_output_tokens: int,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.chain = chain
        self.prompts = prompts
        self.toolbox = toolbox
        self.knowledge = knowledge
        self.max_output_tokens = max_output_tokens
        self.telemetry = telemetry or chain.telemetry
        self.telemetry.instruments.prime(degraded=(PROVIDERS_FAILED, INVALID_OUTPUT))

    def planned_call(self, email: Email, prompt_version: str) -> tuple[int, int]:
        """(characters of the prompt the model call will be sent, its `max_tokens`): the same steps as
        `triage` up to rendering, without telemetry, so a budget can reserve what the call really needs
        before the request starts (about 10 ms of CPU: the service runs it only when a budget exists).
        Raises `PromptNotFound` for an unknown version."""
        version = self.prompts.get(prompt_version)
        parsed = parse_email(email)
        passages = retrieve_policies(self.knowledge, parsed)
        tool_results = [self.toolbox.run(call) for call in plan_tool_calls(parsed)]
        owner = self.toolbox.owner.name if self.toolbox.owner else None
        context = build_context(passages, tool_results, owner)
        variables = prompt_variables(parsed, context, rule_based_triage(parsed, context))
        chars = sum(len(message.content) for message in version.render(variables))
        chars += len(version.render_prefill(variables) or "")
        return chars, self._max_tokens(version)

    def _max_tokens(self, version: PromptVersion) -> int:
        return min(version.model_params.max_tokens, self.max_output_tokens)

    async def triage(self, email: Email, prompt_version: str) -> TriageOutcome:
        t = self.telemetry
        version = self.prompts.get(prompt_version)
        with t.step("parse_email") as span:
            parsed = parse_email(email)
            t.content(span, c.EMAIL_SUBJECT, parsed.subject)
            t.content(span, c.EMAIL_SENDER, parsed.sender_name or parsed.sender_address)
        with t.step(
            f"retrieval {KNOWLEDGE_BASE_ID}",
            {
                c.GEN_AI_OPERATION_NAME: "retrieval",
                c.GEN_AI_DATA_SOURCE_ID: KNOWLEDGE_BASE_ID,
                c.GEN_AI_RETRIEVAL_TOP_K: RETRIEVAL_LIMIT,
            },
            step="retrieval",
        ) as span:
            t.content(span, c.GEN_AI_RETRIEVAL_QUERY_TEXT, retrieval_query(parsed))
            passages = retrieve_policies(self.knowledge, parsed)
            t.content(
                span,
                c.GEN_AI_RETRIEVAL_DOCUMENTS,
                [{"id": p.id, "score": p.score, "title": p.title} for p in passages],
            )
        tool_results = [self._run_tool(call) for call in plan_tool_calls(parsed)]
        with t.step("rule_suggestion") as span:
            owner = self.toolbox.owner.name if self.toolbox.owner else None
            context = build_context(passages, tool_results, owner)
            suggestion = rule_based_triage(parsed, context)
            span.set_attribute(c.CATEGORY, suggestion.category.value)
        variables = prompt_variables(parsed, context, suggestion)
        messages = version.render(variables)
        prefill = version.render_prefill(variables)
        run = _ModelRun()
        try:
            triage = await self._generate(version, messages, prefill, run)
        except AllProvidersFailed as exc:
            run.retries += exc.retries
            run.calls += _reached(exc.attempts)
            return self._degraded(version, suggestion, run, PROVIDERS_FAILED)
        if triage is None:
            return self._degraded(version, suggestion, run, INVALID_OUTPUT)
        assert run.last is not None
        return TriageOutcome(
            triage=triage,
            prompt_version=version.id,
            model=run.last.model,
            provider=run.last.provider,
            usage=run.usage,
            retries=run.retries,
            model_calls=run.calls,
            cost_usd=run.cost_usd,
            price_source=run.price_source,
        )

    def _run_tool(self, call: ToolCall) -> ToolResult:
        t = self.telemetry
        with t.tool(call.name, call.id) as span:
            t.content(span, c.GEN_AI_TOOL_CALL_ARGUMENTS, call.arguments)
            result = self.toolbox.run(call)
            if result.error:
                mark_error(span, "tool_error")
            else:
                t.content(span, c.GEN_AI_TOOL_CALL_RESULT, result.output)
        return result

    async def _generate(
        self, version: PromptVersion, messages: list[Message], prefill: str | None, run: _ModelRun
    ) -> Triage | None:
        """One model call, validated; one repair call if the output does not fit the schema."""
        varying_from = len(messages) - 1  # the email's turn; system prompt and examples are the version's
        text = await self._call_model(version, messages, prefill, run, varying_from)
        triage, problems = self._validate(text, repair=False)
        if triage is not None:
            return triage
        repair = [
            *messages,
            Message(role="assistant", content=text),
            Message(role="user", content=version.render_repair(problems)),
        ]
        text = await self._call_model(version, repair, prefill, run, varying_from)
        triage, _ = self._validate(text, repair=True)
        return triage

    def _validate(self, text: str, *, repair: bool) -> tuple[Triage | None, list[str]]:
        with self.telemetry.step("validate_output", {"llmops.repair": repair}) as span:
            triage, problems = validate_output(text)
            span.set_attribute("llmops.output.valid", triage is not None)
            if triage is None:
                span.set_attribute("llmops.output.problems", len(problems))
            return triage, problems

    async def _call_model(
        self,
        version: PromptVersion,
        messages: list[Message],
        prefill: str | None,
        run: _ModelRun,
        varying_from: int,
    ) -> str:
        request = ChatRequest(
            messages=messages,
            varying_from=varying_from,
            max_tokens=self._max_tokens(version),
            temperature=version.model_params.temperature,
            stop=version.model_params.stop,
            json_output=True,
            prefill=prefill,
        )
        result = await self.chain.chat(request)
        run.add(result)
        return result.response.text

    def _degraded(
        self, version: PromptVersion, suggestion: Triage, run: _ModelRun, reason: str
    ) -> TriageOutcome:
        with self.telemetry.step("fallback", {c.DEGRADED_REASON: reason}):
            self.telemetry.instruments.record_degraded(reason=reason)
        return TriageOutcome(
            triage=suggestion,
            prompt_version=version.id,
            model=FALLBACK_MODEL,
            provider=FALLBACK_PROVIDER,
            usage=run.usage,
            retries=run.retries,
            degraded=True,
            degraded_reason=reason,
            model_calls=run.calls,
            cost_usd=run.cost_usd,
            price_source=run.price_source,
        )
