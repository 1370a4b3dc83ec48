"""Chat messages on spans in the GenAI semconv v1.41 shape, written and read in one place.

v1.41 messages are `{"role": …, "parts": [{"type": "text", "content": …}]}` (output messages add
`finish_reason`); tools such as Phoenix and Langfuse show prompt and reply only in that shape. Readers
also accept the older `{"role", "content"}` shape, which traces stored before the change still hold.
"""

from __future__ import annotations

import json
from typing import Any


def text_message(role: str, content: str, finish_reason: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": content}]}
    if finish_reason is not None:
        message["finish_reason"] = finish_reason
    return message


def read_messages(raw: object) -> list[tuple[str, str]]:
    """(role, text) of each message in a `gen_ai.*.messages` value (a JSON string or a list)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    if not isinstance(raw, list):
        return []
    found: list[tuple[str, str]] = []
    for message in raw:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        text = _text(message)
        if isinstance(role, str) and text is not None:
            found.append((role, text))
    return found


def _text(message: dict[str, Any]) -> str | None:
    parts = message.get("parts")
    if isinstance(parts, list):
        texts = [
            part["content"]
            for part in parts
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("content"), str)
        ]
        return "".join(texts) if texts else None
    content = message.get("content")
    return content if isinstance(content, str) else None
