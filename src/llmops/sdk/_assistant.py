"""The `Assistant` base class: what an assistant declares and the one coroutine it implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from llmops.prompts.registry import PromptVersion
from llmops.providers.errors import AllProvidersFailed

if TYPE_CHECKING:
    from llmops.sdk._context import RunContext

InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)


class Assistant(ABC, Generic[InputT, OutputT]):
    """An assistant served by llmops: typed input and output, a versioned prompt, one `run` coroutine.

    Subclasses set the class attributes and implement `run`. llmops owns the rest of a request: the
    root span, budgets, prompt routing (labels and canary per `prompt_name`), the provider chain, the
    request row, redaction of the reply and the HTTP routes (`POST /v1/assistants/{name}/runs`).

    - `name`: the assistant dimension (`gen_ai.agent.name`, the `assistant` column, the URL), unique.
    - `prompt_name`: the prompt in the registry whose versions serve it; `prompts_dir` holds that
      prompt's `<prompt_name>/v<N>.yaml` files when the assistant ships them itself.
    - `example`: a valid input, shown in `GET /v1/assistants` and used by the scaffold's tests.
    - `default_prompt_version`: served when no label says otherwise (default: the highest version).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    input_model: ClassVar[type[BaseModel]]
    output_model: ClassVar[type[BaseModel]]
    prompt_name: ClassVar[str]
    prompts_dir: ClassVar[Path | None] = None
    default_prompt_version: ClassVar[str | None] = None
    example: ClassVar[BaseModel]

    @abstractmethod
    async def run(self, input: InputT, ctx: RunContext) -> OutputT:
        """Answer one input. Model calls go through `ctx.chat`; steps and tools through `ctx.step`,
        `ctx.tool` and `ctx.retrieval`. Raising `ModelUnavailable` (every provider failed) hands the
        request to `fallback`; any other exception is a failed request (HTTP 500)."""

    async def fallback(self, input: InputT, ctx: RunContext, reason: str) -> OutputT:
        """The degraded reply when the model is unavailable (`reason` says why). By default there is
        none, and the request fails; override to answer without the model (rules, a canned reply)."""
        raise ModelUnavailable([], retries=0)

    def input_size(self, input: InputT) -> int:
        """Characters of input the model will read: what a budget reservation is estimated from."""
        return len(input.model_dump_json())

    def planned_call(self, input: InputT, prompt: PromptVersion) -> tuple[int, int | None]:
        """(characters the model call will be sent, its `max_tokens`) for a budget reservation, run off
        the event loop and only when a budget exists. By default the input's size and no known
        `max_tokens`; override when the prompt can be rendered cheaply before the run."""
        return self.input_size(input), None

    def label(self, output: OutputT) -> str | None:
        """A short label of a reply kept on its request row (`category`): e.g. the triage category."""
        return None

    async def start(self) -> None:
        """Load data or open clients once, before the first request."""

    async def aclose(self) -> None:
        """Release what `start` opened."""


# Every provider of the chain failed (after retries and fallback): the model is unavailable.
ModelUnavailable = AllProvidersFailed
