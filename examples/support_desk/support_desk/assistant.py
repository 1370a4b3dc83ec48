"""The Support Desk assistant: classify → find the facts with tools → answer from them.

When the provider can call tools (OpenAI-compatible `tools`), the model chooses `search_kb` and
`get_order_status` itself in a bounded loop, each call its own span. Otherwise (the local model, the
scripted one) a planner runs the tools the question needs and the model writes the answer from the
results. Either way the reply's `sources` and `order` are what the tools returned, not what the model
claims; when the model's text is unusable, or no model answers, the reply is composed from those facts
(a degraded reply).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.sdk import Assistant, ChatRequest, Message, RunContext, ToolCall
from support_desk.models import Article, Intent, Order, Question, SupportReply
from support_desk.tools import TOOLS, Desk, classify, order_id_in

MAX_TOOL_ROUNDS = 4
MAX_ANSWER_CHARS = 1500
NOTHING_FOUND = (
    "I could not find an answer to that in our help center. A member of our support team will get "
    "back to you within one business day."
)


@dataclass
class Findings:
    """What the tools returned during one request."""

    articles: list[Article] = field(default_factory=list)
    order: Order | None = None

    def add(self, articles: list[Article], order: Order | None) -> None:
        known = {article.id for article in self.articles}
        self.articles += [article for article in articles if article.id not in known]
        self.order = order or self.order


class SupportDesk(Assistant[Question, SupportReply]):
    name = "support_desk"
    description = (
        "The Support Desk: answers Northwind customers from the help center and the order system, "
        "choosing its tools (search_kb, get_order_status) when the model can."
    )
    input_model = Question
    output_model = SupportReply
    prompt_name = "support_desk"
    prompts_dir = Path(__file__).resolve().parent / "prompts"
    default_prompt_version = "support_desk_v1"
    example = Question(question="Where is my order NW-1002? It was supposed to arrive this week.")

    def __init__(self, desk: Desk | None = None) -> None:
        self.desk = desk

    async def start(self) -> None:
        if self.desk is None:
            self.desk = Desk.bundled()

    def label(self, output: SupportReply) -> str:
        return output.intent

    async def run(self, input: Question, ctx: RunContext) -> SupportReply:
        desk = self._loaded()
        with ctx.step("classify") as span:
            order_id = order_id_in(input.question, input.order_id)
            intent = classify(input.question, order_id)
            span.set_attribute("support_desk.intent", intent)
        found = Findings()
        if ctx.supports_tools:
            text = await self._tool_loop(ctx, desk, input, found)
        else:
            for call in planned_calls(input.question, order_id):
                self._run_tool(ctx, desk, call, found)
            text = await self._answer(ctx, input, found, tools=False)
        answer = usable(text)
        if answer is None:
            reply = compose(intent, found)
            return ctx.degraded(reply, "invalid_output", provider="rules", model="kb-template")
        return SupportReply(
            answer=answer,
            intent=intent,
            sources=[article.id for article in found.articles],
            order=found.order,
            escalate=needs_human(intent, found),
        )

    async def fallback(self, input: Question, ctx: RunContext, reason: str) -> SupportReply:
        """No model answered: the facts the planned tools find, as a templated reply."""
        desk = self._loaded()
        order_id = order_id_in(input.question, input.order_id)
        found = Findings()
        for call in planned_calls(input.question, order_id):
            _, articles, order = desk.call(call.name, json.loads(call.arguments))
            found.add(articles, order)
        reply = compose(classify(input.question, order_id), found)
        return ctx.degraded(reply, reason, provider="rules", model="kb-template")

    def _loaded(self) -> Desk:
        if self.desk is None:
            raise RuntimeError("SupportDesk.start() was not awaited")
        return self.desk

    async def _tool_loop(self, ctx: RunContext, desk: Desk, input: Question, found: Findings) -> str:
        """The model picks tools until it answers, at most `MAX_TOOL_ROUNDS` rounds; then it must answer."""
        messages = ctx.prompt.render(variables(input, found, tools=True))
        varying_from = len(messages) - 1
        for _ in range(MAX_TOOL_ROUNDS):
            response = await ctx.chat(self._request(ctx, messages, varying_from, tools=True))
            if not response.tool_calls:
                return response.text
            messages.append(Message(role="assistant", content=response.text, tool_calls=response.tool_calls))
            for call in response.tool_calls:
                result = self._run_tool(ctx, desk, call, found)
                messages.append(Message(role="tool", content=json.dumps(result), tool_call_id=call.id))
        response = await ctx.chat(self._request(ctx, messages, varying_from, tools=False))
        return response.text

    async def _answer(self, ctx: RunContext, input: Question, found: Findings, *, tools: bool) -> str:
        messages = ctx.prompt.render(variables(input, found, tools=tools))
        response = await ctx.chat(self._request(ctx, messages, len(messages) - 1, tools=False))
        return response.text

    @staticmethod
    def _request(ctx: RunContext, messages: list[Message], varying_from: int, *, tools: bool) -> ChatRequest:
        params = ctx.prompt.model_params
        return ChatRequest(
            messages=list(messages),
            varying_from=varying_from,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            stop=params.stop,
            tools=TOOLS if tools else [],
        )

    @staticmethod
    def _run_tool(ctx: RunContext, desk: Desk, call: ToolCall, found: Findings) -> object:
        """One tool call in its own span; a bad call is an error result the model can read, not a crash."""
        with ctx.tool(call.name, call.id, call.arguments) as span:
            try:
                arguments = json.loads(call.arguments or "{}")
                if not isinstance(arguments, dict):
                    raise ValueError("tool arguments must be a JSON object")
                result, articles, order = desk.call(call.name, arguments)
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                ctx.mark_error(span, "tool_error")
                return {"error": str(exc)[:200]}
            found.add(articles, order)
            ctx.tool_result(span, result)
            return result


def planned_calls(question: str, order_id: str | None) -> list[ToolCall]:
    """The tools a question needs when the model cannot choose: the help center, and the order if named."""
    calls = [ToolCall(id="plan_1", name="search_kb", arguments=json.dumps({"query": question}))]
    if order_id:
        calls.append(
            ToolCall(id="plan_2", name="get_order_status", arguments=json.dumps({"order_id": order_id}))
        )
    return calls


def variables(input: Question, found: Findings, *, tools: bool) -> dict[str, Any]:
    return {
        "question": input.question,
        "tools": tools,
        "order": found.order.model_dump() if found.order else None,
        "articles": [{"title": a.title, "text": a.text} for a in found.articles],
    }


def usable(text: str) -> str | None:
    """The model's answer, if it is prose: not empty and not a JSON object (a small model ignoring its
    instructions, or a scripted reply meant for another assistant)."""
    answer = text.strip()
    if not answer or answer[0] in "{[":
        return None
    return answer[:MAX_ANSWER_CHARS]


def needs_human(intent: Intent, found: Findings) -> bool:
    delayed = found.order is not None and found.order.status == "delayed"
    return intent == "complaint" or delayed or (not found.articles and found.order is None)


def describe_order(order: Order) -> str:
    parts = [f"Order {order.order_id} is {order.status}"]
    if order.carrier:
        parts.append(f"with {order.carrier}")
    if order.eta and order.status in {"processing", "shipped", "delayed"}:
        parts.append(f"and is expected on {order.eta}")
    return " ".join(parts) + "."


def compose(intent: Intent, found: Findings) -> SupportReply:
    """A reply from the facts alone: the order's status and the best article, or a hand-over."""
    sentences = []
    if found.order is not None:
        sentences.append(describe_order(found.order))
    if found.articles:
        sentences.append(found.articles[0].text)
    return SupportReply(
        answer=" ".join(sentences) or NOTHING_FOUND,
        intent=intent,
        sources=[article.id for article in found.articles],
        order=found.order,
        escalate=needs_human(intent, found),
    )


assistant = SupportDesk()
