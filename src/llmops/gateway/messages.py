"""What the gateway reads from OpenAI-shaped bodies: usage, finish reasons, and messages for the span.

Messages go on the model span in the GenAI semconv v1.41 `parts` shape, e.g.
`[{"role": "user", "parts": [{"type": "text", "content": "..."}]}]`, tool calls as `tool_call` parts and
tool results as `tool_call_response` parts. Only when content capture is on; the redacting exporter
masks them before any sink. Non-text parts (images, audio) keep their type but not their data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int | None = None

    @classmethod
    def of(cls, usage: object) -> Usage | None:
        """From an OpenAI `usage` object (chat or embeddings); None when absent or unreadable."""
        if not isinstance(usage, dict):
            return None
        prompt = _count(usage.get("prompt_tokens"))
        completion = _count(usage.get("completion_tokens"))
        details = usage.get("prompt_tokens_details")
        cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
        return cls(prompt or 0, completion or 0, cached)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _content_parts(content: object) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                parts.append({"type": "text", "content": part.get("text", "")})
            else:
                parts.append({"type": str(part.get("type", "unknown"))})
    return parts


def _tool_call_parts(tool_calls: object) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if isinstance(tool_calls, list):
        for call in tool_calls:
            if not isinstance(call, dict):
                continue
            function = _dict(call.get("function"))
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": function.get("arguments"),
                }
            )
    return parts


def input_messages(messages: list[Any]) -> list[dict[str, Any]]:
    """The request's messages in the parts shape."""
    shaped = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = str(message.get("role", "user"))
        if role == "tool":
            parts: list[dict[str, Any]] = [
                {
                    "type": "tool_call_response",
                    "id": message.get("tool_call_id"),
                    "response": message.get("content"),
                }
            ]
        else:
            parts = _content_parts(message.get("content")) + _tool_call_parts(message.get("tool_calls"))
        shaped.append({"role": role, "parts": parts})
    return shaped


def output_messages(choices: object) -> list[dict[str, Any]]:
    """A completion's choices in the parts shape, each with its finish reason."""
    shaped = []
    for choice in choices if isinstance(choices, list) else []:
        if not isinstance(choice, dict):
            continue
        message = _dict(choice.get("message"))
        parts = _content_parts(message.get("content")) + _tool_call_parts(message.get("tool_calls"))
        shaped.append({"role": "assistant", "parts": parts, "finish_reason": choice.get("finish_reason")})
    return shaped


def finish_reasons(choices: object) -> list[str]:
    return [
        str(choice.get("finish_reason") or "unknown")
        for choice in (choices if isinstance(choices, list) else [])
        if isinstance(choice, dict)
    ]


class StreamAccumulator:
    """Builds the reply's output message, finish reasons and usage from streamed chunks."""

    def __init__(self, capture: bool) -> None:
        self.capture = capture
        self.usage: Usage | None = None
        self.model: str | None = None
        self.finish: dict[int, str] = {}
        self._text: dict[int, list[str]] = {}
        self._tools: dict[tuple[int, int], dict[str, Any]] = {}

    def add(self, chunk: dict[str, Any]) -> None:
        if self.model is None and isinstance(chunk.get("model"), str):
            self.model = chunk["model"]
        usage = Usage.of(chunk.get("usage"))
        if usage is not None:
            self.usage = usage
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0) if isinstance(choice.get("index"), int) else 0
            if choice.get("finish_reason"):
                self.finish[index] = str(choice["finish_reason"])
            if self.capture and isinstance(choice.get("delta"), dict):
                self._add_delta(index, choice["delta"])

    def _add_delta(self, index: int, delta: dict[str, Any]) -> None:
        if isinstance(delta.get("content"), str):
            self._text.setdefault(index, []).append(delta["content"])
        for call in delta.get("tool_calls") or []:
            if not isinstance(call, dict):
                continue
            slot = self._tools.setdefault(
                (index, call.get("index", 0) if isinstance(call.get("index"), int) else 0),
                {"type": "tool_call", "id": None, "name": None, "arguments": ""},
            )
            slot["id"] = call.get("id") or slot["id"]
            function = _dict(call.get("function"))
            slot["name"] = function.get("name") or slot["name"]
            if isinstance(function.get("arguments"), str):
                slot["arguments"] += function["arguments"]

    def finish_reasons(self) -> list[str]:
        return [self.finish[index] for index in sorted(self.finish)] or ["unknown"]

    def output_messages(self) -> list[dict[str, Any]]:
        indexes = sorted({*self._text, *(i for i, _ in self._tools), *self.finish})
        shaped = []
        for index in indexes:
            parts: list[dict[str, Any]] = []
            if index in self._text:
                parts.append({"type": "text", "content": "".join(self._text[index])})
            parts.extend(part for (i, _), part in sorted(self._tools.items()) if i == index)
            shaped.append({"role": "assistant", "parts": parts, "finish_reason": self.finish.get(index)})
        return shaped
