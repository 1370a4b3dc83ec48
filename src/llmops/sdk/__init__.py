"""The public API for writing an assistant that llmops serves, traces, budgets and evaluates.

    from llmops.sdk import Assistant, ChatRequest, Message, RunContext

    class Echo(Assistant[Question, Answer]):
        name = "echo"
        input_model, output_model = Question, Answer
        prompt_name = "echo"
        prompts_dir = Path(__file__).parent / "prompts"
        example = Question(text="Hello?")

        async def run(self, input: Question, ctx: RunContext) -> Answer:
            messages = ctx.prompt.render({"text": input.text})
            reply = await ctx.chat(ChatRequest(messages=messages))
            return Answer(text=reply.text)

Only this module is stable; everything else under `llmops.` may change between releases. See
docs/your-assistant.md.
"""

from llmops.prompts.registry import PromptVersion
from llmops.providers.base import ChatRequest, ChatResponse, Message, ToolCall, ToolSpec
from llmops.sdk._assistant import Assistant, InputT, ModelUnavailable, OutputT
from llmops.sdk._context import Retrieval, RunContext, TokenUsage
from llmops.telemetry.conventions import CATEGORY as CATEGORY_ATTRIBUTE
from llmops.telemetry.conventions import EMAIL_SENDER as EMAIL_SENDER_ATTRIBUTE
from llmops.telemetry.conventions import EMAIL_SUBJECT as EMAIL_SUBJECT_ATTRIBUTE
from llmops.telemetry.conventions import TRIAGE_MODEL_FIELDS as MODEL_FIELDS_ATTRIBUTE

__all__ = [
    "CATEGORY_ATTRIBUTE",
    "EMAIL_SENDER_ATTRIBUTE",
    "EMAIL_SUBJECT_ATTRIBUTE",
    "MODEL_FIELDS_ATTRIBUTE",
    "Assistant",
    "ChatRequest",
    "ChatResponse",
    "InputT",
    "Message",
    "ModelUnavailable",
    "OutputT",
    "PromptVersion",
    "Retrieval",
    "RunContext",
    "TokenUsage",
    "ToolCall",
    "ToolSpec",
]
