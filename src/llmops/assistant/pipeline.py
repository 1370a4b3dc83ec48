"""The Email Gatekeeper: an assistant on the public `llmops.sdk`, each step its own span.

    parse_email → retrieve_policies → plan + run tools → rule-based suggestion (the rules' scores fused
    with a text model's category probabilities) → build prompt
    → model call → validate (one repair call if invalid) → fill text → triage, or the rule-based fallback

The rule-based triage is computed on every request: it is a hint in the prompt (a tiny local model
needs one), the text that fills what the model did not write usably (`fill.fill_text`), and the
degraded reply when every provider fails or the output cannot be repaired.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from llmops.assistant.category_model import CategoryModel
from llmops.assistant.fill import all_rules, fill_text
from llmops.assistant.knowledge import KnowledgeBase, Passage
from llmops.assistant.normalize import ParsedEmail, parse_email, truncate
from llmops.assistant.output import TriageParseError, parse_triage
from llmops.assistant.rules import Suggestion, TriageContext, rule_suggestion
from llmops.assistant.schema import Email, Triage
from llmops.assistant.tools import Toolbox, ToolCall, ToolResult, plan_tool_calls
from llmops.sdk import (
    CATEGORY_ATTRIBUTE,
    EMAIL_SENDER_ATTRIBUTE,
    EMAIL_SUBJECT_ATTRIBUTE,
    MODEL_FIELDS_ATTRIBUTE,
    Assistant,
    ChatRequest,
    Message,
    ModelUnavailable,
    PromptVersion,
    RunContext,
)

ASSISTANT_NAME = "email_gatekeeper"
PROMPT_NAME = "email_triage"
KNOWLEDGE_BASE_ID = "northwind-policies"
FALLBACK_PROVIDER = "rules"
FALLBACK_MODEL = "rule-based"
# What the prompt carries: on 2 CPU cores each prompt token costs ~4 ms to read, and the email's part of
# the prompt cannot come from the KV cache. The rules, not the model, use the whole body and both policies.
BODY_CHARS_IN_PROMPT = 600
POLICIES_IN_PROMPT = 1
POLICY_CHARS_IN_PROMPT = 160
RETRIEVAL_LIMIT = 2
PROVIDERS_FAILED, INVALID_OUTPUT = "providers_failed", "invalid_output"  # why a reply is degraded
PLANS_KEPT = 64  # planned inputs waiting for their run (a refused budget leaves one behind)
EXAMPLE = Email(
    sender="Priya Shah <priya@northwind.example>",
    recipients=["me@northwind.example"],
    subject="Sync on the launch plan on Thursday at 3pm?",
    body="Hi, could we meet Thursday at 3pm to go through the launch plan? Thanks, Priya",
)


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


def prompt_variables(parsed: ParsedEmail, context: TriageContext, suggestion: Suggestion) -> dict[str, Any]:
    """What a prompt template may use: the email, tool results, policies and the rules' suggestion."""
    return {
        "sender": parsed.sender_display,
        "contact": context.describe_contact(),
        "calendar": context.describe_calendar(),
        "policies": [
            {"title": p.title, "text": truncate(p.text, POLICY_CHARS_IN_PROMPT)}
            for p in context.passages[:POLICIES_IN_PROMPT]
        ],
        "suggestion": {
            "category": suggestion.triage.category.value,
            "priority": suggestion.triage.priority,
            "reason": suggestion.reason,
        },
        "subject": parsed.subject,
        "body": truncate(parsed.body, BODY_CHARS_IN_PROMPT),
    }


def validate_output(text: str) -> tuple[Triage | None, list[str]]:
    try:
        return parse_triage(text), []
    except TriageParseError as exc:
        return None, exc.problems


@dataclass(frozen=True)
class Prepared:
    """What the steps before the model call computed for one email (all of it deterministic)."""

    parsed: ParsedEmail
    passages: list[Passage]
    tool_results: list[ToolResult]
    context: TriageContext
    suggestion: Suggestion


class EmailGatekeeper(Assistant[Email, Triage]):
    """Triages one email: category, priority, summary, action items and a draft reply.

    Every step runs inside its own span (`RunContext.step`); model calls get theirs from the chain.
    The service routes the prompt version (explicit, canary or production) into `ctx.prompt`.
    """

    name = ASSISTANT_NAME
    description = (
        "The Email Gatekeeper: triages an email into a category and priority with a summary, "
        "action items and a draft reply, from company policies, contacts and the calendar."
    )
    input_model = Email
    output_model = Triage
    prompt_name = PROMPT_NAME
    example = EXAMPLE

    def __init__(
        self,
        knowledge: KnowledgeBase | None = None,
        toolbox: Toolbox | None = None,
        category_model: CategoryModel | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.toolbox = toolbox
        self.category_model = category_model
        # planned_call's work, handed to the run of the same input object (keyed by its id; the
        # entry holds the object, so the id cannot be reused while it waits).
        self._plans: dict[int, tuple[Email, Prepared]] = {}
        self._plans_lock = threading.Lock()

    async def start(self) -> None:
        """Load the bundled policies, contacts, calendar and category model once (not at import time)."""
        if self.knowledge is None:
            self.knowledge = KnowledgeBase.bundled()
        if self.toolbox is None:
            self.toolbox = Toolbox.bundled(self.knowledge)
        if self.category_model is None:
            self.category_model = CategoryModel.bundled()

    def input_size(self, input: Email) -> int:
        return input.size()

    def label(self, output: Triage) -> str:
        return output.category.value

    def planned_call(self, input: Email, prompt: PromptVersion) -> tuple[int, int | None]:
        """The prompt the model call will really be sent, and its `max_tokens`: the same steps as `run`
        up to rendering, without spans (the service runs it only under a budget). The run of this
        input then reuses what they computed instead of computing it twice."""
        knowledge, toolbox = self._loaded()
        parsed = parse_email(input)
        passages = retrieve_policies(knowledge, parsed)
        tool_results = [toolbox.run(call) for call in plan_tool_calls(parsed)]
        owner = toolbox.owner.name if toolbox.owner else None
        context = build_context(passages, tool_results, owner)
        suggestion = rule_suggestion(parsed, context, self.category_model)
        with self._plans_lock:
            while len(self._plans) >= PLANS_KEPT:
                del self._plans[next(iter(self._plans))]
            self._plans[id(input)] = (input, Prepared(parsed, passages, tool_results, context, suggestion))
        variables = prompt_variables(parsed, context, suggestion)
        chars = sum(len(message.content) for message in prompt.render(variables))
        chars += len(prompt.render_prefill(variables) or "")
        return chars, prompt.model_params.max_tokens

    def _planned(self, input: Email) -> Prepared | None:
        with self._plans_lock:
            entry = self._plans.pop(id(input), None)
        return entry[1] if entry is not None and entry[0] is input else None

    async def run(self, input: Email, ctx: RunContext) -> Triage:
        knowledge, toolbox = self._loaded()
        version = ctx.prompt
        planned = self._planned(input)  # under a budget, planned_call computed these steps already
        with ctx.step("parse_email") as span:
            parsed = planned.parsed if planned else parse_email(input)
            ctx.content(span, EMAIL_SUBJECT_ATTRIBUTE, parsed.subject)
            ctx.content(span, EMAIL_SENDER_ATTRIBUTE, parsed.sender_name or parsed.sender_address)
        with ctx.retrieval(KNOWLEDGE_BASE_ID, retrieval_query(parsed), top_k=RETRIEVAL_LIMIT) as retrieval:
            passages = planned.passages if planned else retrieve_policies(knowledge, parsed)
            retrieval.found([{"id": p.id, "score": p.score, "title": p.title} for p in passages])
        done = planned.tool_results if planned else None
        tool_results = [
            self._run_tool(ctx, toolbox, call, done[index] if done else None)
            for index, call in enumerate(plan_tool_calls(parsed))
        ]
        with ctx.step("rule_suggestion") as span:
            if planned:
                context, suggestion = planned.context, planned.suggestion
            else:
                owner = toolbox.owner.name if toolbox.owner else None
                context = build_context(passages, tool_results, owner)
                suggestion = rule_suggestion(parsed, context, self.category_model)
            span.set_attribute(CATEGORY_ATTRIBUTE, suggestion.triage.category.value)
        variables = prompt_variables(parsed, context, suggestion)
        messages = version.render(variables)
        prefill = version.render_prefill(variables)
        try:
            triage = await self._generate(ctx, version, messages, prefill)
        except ModelUnavailable:
            return self._degraded(ctx, suggestion.triage, PROVIDERS_FAILED)
        if triage is None:
            return self._degraded(ctx, suggestion.triage, INVALID_OUTPUT)
        with ctx.step("fill_text") as span:
            examples = "\n".join(example.assistant for example in version.examples)
            triage = fill_text(parsed, context, triage, suggestion.triage, prefill, examples)
            written = [field for field, source in triage.provenance.items() if source == "model"]
            span.set_attribute(MODEL_FIELDS_ATTRIBUTE, written)
        return triage

    def _loaded(self) -> tuple[KnowledgeBase, Toolbox]:
        if self.knowledge is None or self.toolbox is None:
            raise RuntimeError("EmailGatekeeper.start() was not awaited")
        return self.knowledge, self.toolbox

    @staticmethod
    def _degraded(ctx: RunContext, suggestion: Triage, reason: str) -> Triage:
        return ctx.degraded(all_rules(suggestion), reason, provider=FALLBACK_PROVIDER, model=FALLBACK_MODEL)

    @staticmethod
    def _run_tool(ctx: RunContext, toolbox: Toolbox, call: ToolCall, done: ToolResult | None) -> ToolResult:
        """The tool call's span; `done` is its result when planned_call ran it already."""
        with ctx.tool(call.name, call.id, call.arguments) as span:
            result = done if done is not None else toolbox.run(call)
            if result.error:
                ctx.mark_error(span, "tool_error")
            else:
                ctx.tool_result(span, result.output)
        return result

    async def _generate(
        self, ctx: RunContext, version: PromptVersion, messages: list[Message], prefill: str | None
    ) -> Triage | None:
        """One model call, validated; one repair call if the output does not fit the schema."""
        varying_from = len(messages) - 1  # the email's turn; system prompt and examples are the version's
        text = await self._call_model(ctx, version, messages, prefill, varying_from)
        triage, problems = self._validate(ctx, text, repair=False)
        if triage is not None:
            return triage
        repair = [
            *messages,
            Message(role="assistant", content=text),
            Message(role="user", content=version.render_repair(problems)),
        ]
        text = await self._call_model(ctx, version, repair, prefill, varying_from)
        triage, _ = self._validate(ctx, text, repair=True)
        return triage

    @staticmethod
    def _validate(ctx: RunContext, text: str, *, repair: bool) -> tuple[Triage | None, list[str]]:
        with ctx.step("validate_output", {"llmops.repair": repair}) as span:
            triage, problems = validate_output(text)
            span.set_attribute("llmops.output.valid", triage is not None)
            if triage is None:
                span.set_attribute("llmops.output.problems", len(problems))
            return triage, problems

    @staticmethod
    async def _call_model(
        ctx: RunContext,
        version: PromptVersion,
        messages: list[Message],
        prefill: str | None,
        varying_from: int,
    ) -> str:
        request = ChatRequest(
            messages=messages,
            varying_from=varying_from,
            max_tokens=version.model_params.max_tokens,
            temperature=version.model_params.temperature,
            stop=version.model_params.stop,
            json_output=True,
            prefill=prefill,
        )
        response = await ctx.chat(request)
        return response.text
