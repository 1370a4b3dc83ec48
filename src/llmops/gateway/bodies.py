"""Requests as the gateway reads them: who calls (`Caller`) and the OpenAI bodies it checks.

Only the fields the gateway acts on are validated; everything else (tools, tool_choice, response_format,
seed, logprobs …) passes through to the upstream untouched, so new OpenAI parameters work without a
release. Error messages name the field, never the value sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry.context import Context
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from llmops.gateway.errors import GatewayError, bad_request
from llmops.storage import jsoncodec

CHARS_PER_TOKEN = 4
Body = TypeVar("Body", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request and how: from the bearer key, the body and the `X-LLMOps-*` headers."""

    key_fingerprint: str
    request_id: str
    route: str
    user_id: str | None = None
    session_id: str | None = None
    prompt_version: str | None = None
    client_request_id: str | None = None
    parent: Context | None = None
    eval: bool = False


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: StrictBool = False


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: StrictBool = False
    stream_options: _StreamOptions | None = None
    user: str | None = Field(None, max_length=256)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)


class EmbeddingsBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    input: str | list[str] | list[int] | list[list[int]]
    user: str | None = Field(None, max_length=256)


def parse(raw: bytes, model: type[Body]) -> tuple[dict[str, Any], Body]:
    """The body as sent (to forward) and as checked (to act on), or a 400 naming the bad field."""
    try:
        data = jsoncodec.loads(raw)
    except ValueError:
        raise bad_request("We could not parse the JSON body of your request.") from None
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    try:
        return data, model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        param = ".".join(str(part) for part in error["loc"]) or None
        raise GatewayError(400, f"Invalid value for '{param}': {error['msg']}.", param=param) from None


def estimated_tokens(raw_length: int, body: ChatBody) -> int:
    """An upper bound on a request's tokens for rate limiting, before the upstream reports usage."""
    output = body.max_completion_tokens or body.max_tokens or 0
    return raw_length // CHARS_PER_TOKEN + output
