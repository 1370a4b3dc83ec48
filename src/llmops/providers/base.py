"""The one interface every model provider implements, and the values that cross it.

A provider turns a `ChatRequest` into a `ChatResponse` or raises a `ProviderError` subclass
(`llmops.providers.errors`). Usage is what the provider reported, never an estimate. Resilience
(timeouts, retries, breakers, fallback) wraps providers from the outside (`resilience.py`).

Tool calling follows the OpenAI shape: a request may offer `tools`; a provider that `supports_tools`
may answer with `tool_calls` instead of text, and the caller sends each result back as a `tool`
message. Providers without tool calling ignore `tools` and answer with text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, Field


class ToolSpec(BaseModel):
    """A function the model may call: its name, what it is for, and its arguments' JSON schema."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolCall(BaseModel):
    """One call the model asked for; `arguments` is the JSON text the model wrote (maybe invalid)."""

    id: str
    name: str
    arguments: str = "{}"


class Message(BaseModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: list[ToolCall] = Field(default_factory=list, description="An assistant turn's calls.")
    tool_call_id: str | None = Field(None, description="On a `tool` message: the call it answers.")


class ChatRequest(BaseModel):
    messages: list[Message]
    max_tokens: int = 320
    temperature: float = 0.0
    stop: list[str] = Field(default_factory=list)
    json_output: bool = False
    prefill: str | None = Field(
        None,
        description="Start of the assistant's reply. Providers that can continue a partial reply (local) "
        "do so and return prefill + continuation; others ignore it and return a whole reply.",
    )

    tools: list[ToolSpec] = Field(
        default_factory=list, description="Functions the model may call (providers that `supports_tools`)."
    )
    varying_from: int = Field(
        0,
        ge=0,
        description="Index of the first message that varies per request. Earlier ones (system prompt, "
        "examples) are fixed by the prompt version, so telemetry captures content from here on.",
    )


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int | None = None


class Timings(BaseModel):
    """Where an in-process call's time went: reading the prompt (prefill) and writing the reply (decode).

    Only a provider that runs the model itself can tell them apart (the local one); a trace shows both,
    so a slow call says whether the prompt was too long or the reply was."""

    prefill_ms: float = Field(ge=0)
    decode_ms: float = Field(ge=0)
    prefill_tokens: int = Field(0, ge=0, description="Prompt tokens evaluated (not reused from the cache).")


class ChatResponse(BaseModel):
    text: str
    usage: Usage
    model: str
    finish_reason: str | None = None
    provider: str
    tool_calls: list[ToolCall] = Field(default_factory=list)
    timings: Timings | None = None


class Provider(ABC):
    """A model endpoint. Implementations must be safe to call concurrently from one event loop."""

    name: str
    model: str
    supports_tools: bool = False

    @abstractmethod
    async def chat(self, request: ChatRequest) -> ChatResponse: ...

    async def start(self) -> None:  # noqa: B027 - optional hook, most providers need nothing
        """Load or connect before the first request (called once at startup, off the request path)."""

    def ready(self) -> bool:
        """True when the provider can take requests (the model is loaded, the client is built)."""
        return True

    async def warnings(self) -> list[str]:
        """Problems worth an operator's look that do not stop the provider (shown by `/readyz`)."""
        return []

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources: HTTP clients, model memory."""
