"""Test assistants on the public SDK, loaded by `LLMOPS_ASSISTANTS` specs in the tests."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from llmops.sdk import Assistant, ChatRequest, RunContext


class Question(BaseModel):
    text: str = Field(min_length=1, max_length=500)


class Answer(BaseModel):
    text: str
    words: int


class Echo(Assistant[Question, Answer]):
    name = "echo"
    description = "Repeats the question through the model (a test assistant)."
    input_model = Question
    output_model = Answer
    prompt_name = "echo"
    prompts_dir = Path(__file__).parent / "echo_prompts"
    default_prompt_version = "echo_v1"
    example = Question(text="Is the launch on Thursday?")

    async def run(self, input: Question, ctx: RunContext) -> Answer:
        with ctx.tool("count_words", "call_1", {"text": input.text}) as span:
            words = len(input.text.split())
            ctx.tool_result(span, {"words": words})
        reply = await ctx.chat(ChatRequest(messages=ctx.prompt.render({"text": input.text}), max_tokens=400))
        return Answer(text=reply.text[:200], words=words)

    async def fallback(self, input: Question, ctx: RunContext, reason: str) -> Answer:
        return Answer(text="The model is unavailable.", words=len(input.text.split()))

    def label(self, output: Answer) -> str:
        return "long" if output.words > 3 else "short"


class EchoWithoutFallback(Echo):
    name = "echo_strict"

    async def fallback(self, input: Question, ctx: RunContext, reason: str) -> Answer:
        return await Assistant.fallback(self, input, ctx, reason)


class WrongOutput(Echo):
    """Returns a dict instead of its output model: a bug in the assistant, a 500."""

    name = "echo_wrong"

    async def run(self, input: Question, ctx: RunContext) -> Answer:
        return {"text": input.text, "words": 1}  # type: ignore[return-value]


class Impostor(Echo):
    """Another class that claims the name `echo`."""


echo = Echo()
not_an_assistant = 42
