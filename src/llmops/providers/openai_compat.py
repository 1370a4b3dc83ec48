"""Any OpenAI-compatible `/chat/completions` endpoint: OpenAI, vLLM, Ollama, llama.cpp server, LiteLLM.

One `httpx.AsyncClient` per provider keeps connections pooled. Failures become the error tree in
`errors.py`. Error messages carry only the provider name and the HTTP status: a server may echo the
API key or the prompt back in an error body, so the body of a failed reply is never read.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from llmops.providers.base import ChatRequest, ChatResponse, Message, Provider, ToolCall, Usage
from llmops.providers.errors import (
    BadResponse,
    ProviderConnectError,
    ProviderError,
    ProviderServerError,
    ProviderTimeout,
    RateLimited,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"


class _Function(BaseModel):
    name: str
    arguments: str = "{}"


class _ToolCall(BaseModel):
    id: str
    function: _Function


class _Message(BaseModel):
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None


class _PromptTokensDetails(BaseModel):
    cached_tokens: int | None = None


class _Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: _PromptTokensDetails | None = None


class _Completion(BaseModel):
    """The part of a chat completion we read; everything else is ignored."""

    model: str | None = None
    choices: list[_Choice]
    usage: _Usage | None = None


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP-date; None if absent.

    Unreadable, negative or non-finite values count as absent; a date in the past means 0.
    """
    normalised = {key.lower(): value for key, value in headers.items()}
    milliseconds = _non_negative_float(normalised.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000
    value = normalised.get("retry-after")
    if value is None:
        return None
    seconds = _non_negative_float(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return max(delta, 0.0)


def _non_negative_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


MODEL_CHECK_TTL_S = 60.0


class OpenAIProvider(Provider):
    """Chat completions over HTTP. `timeout_s` bounds each HTTP call; the resilience layer adds its own."""

    supports_tools = True

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_BASE_URL,
        api_key: SecretStr | str | None = None,
        timeout_s: float = 60.0,
        name: str = "openai",
    ) -> None:
        self.name = name
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._api_key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self._client: httpx.AsyncClient | None = None
        self._model_check: tuple[float, list[str]] | None = None
        self._checking: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._get_client()
        self._checking = asyncio.create_task(self._check_model())

    async def aclose(self) -> None:
        if self._checking is not None:
            self._checking.cancel()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def warnings(self) -> list[str]:
        """Whether the upstream lists the configured model at `/models`.

        An upstream that serves another model answers under that model's name (and that is what is
        recorded and priced), so a mismatch is worth a warning; it is not a failure. The check runs in
        the background (at start, then at most once a minute) so a readiness probe never waits on the
        upstream."""
        checked = self._model_check
        stale = checked is None or time.monotonic() - checked[0] >= MODEL_CHECK_TTL_S
        if stale and (self._checking is None or self._checking.done()):
            self._checking = asyncio.create_task(self._check_model())
        return list(checked[1]) if checked is not None else []

    async def _check_model(self) -> None:
        served = await self.served_models()
        if served is None:
            found = [f"{self.name}: could not list the upstream's models (GET /models)"]
        elif self.model not in served:
            found = [
                f"{self.name}: model {self.model!r} is not among the models the upstream lists at /models"
            ]
        else:
            found = []
        self._model_check = (time.monotonic(), found)

    async def served_models(self) -> list[str] | None:
        """Model ids from the upstream's `GET /models`; None when it cannot be read."""
        try:
            response = await self._get_client().get("/models", timeout=min(self.timeout_s, 5.0))
            data = response.json().get("data") if response.status_code == httpx.codes.OK else None
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        if not isinstance(data, list):
            return None
        return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Accept": "application/json"}
            if self._api_key is not None and self._api_key.get_secret_value():
                headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
            self._client = httpx.AsyncClient(
                base_url=self.base_url, headers=headers, timeout=httpx.Timeout(self.timeout_s)
            )
        return self._client

    def _payload(self, request: ChatRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [_wire_message(message) for message in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            payload["stop"] = request.stop
        if request.json_output and not request.tools:
            payload["response_format"] = {"type": "json_object"}
        if request.tools:
            payload["tools"] = [
                {"type": "function", "function": tool.model_dump(exclude_defaults=False)}
                for tool in request.tools
            ]
        return payload

    async def chat(self, request: ChatRequest) -> ChatResponse:
        client = self._get_client()
        try:
            response = await client.post("/chat/completions", json=self._payload(request))
        except httpx.TimeoutException:
            raise ProviderTimeout(
                f"{self.name} did not answer within {self.timeout_s:g}s", provider=self.name
            ) from None
        except httpx.TransportError as exc:
            raise ProviderConnectError(
                f"{self.name} could not be reached ({type(exc).__name__})", provider=self.name
            ) from None
        if response.status_code != httpx.codes.OK:
            raise self._status_error(response)
        try:
            completion = _Completion.model_validate_json(response.content)
        except ValidationError:
            raise BadResponse(
                f"{self.name} returned an unreadable reply (HTTP 200)", provider=self.name
            ) from None
        if not completion.choices:
            raise BadResponse(f"{self.name} returned no choices (HTTP 200)", provider=self.name)
        return self._to_response(completion)

    def _status_error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        message = f"{self.name} returned HTTP {status}"
        if status == httpx.codes.TOO_MANY_REQUESTS:
            return RateLimited(message, provider=self.name, retry_after_s=parse_retry_after(response.headers))
        if status == httpx.codes.REQUEST_TIMEOUT:
            return ProviderTimeout(message, provider=self.name)
        if status >= httpx.codes.INTERNAL_SERVER_ERROR:
            return ProviderServerError(message, provider=self.name, status_code=status)
        return BadResponse(message, provider=self.name)

    def _to_response(self, completion: _Completion) -> ChatResponse:
        choice = completion.choices[0]
        usage = completion.usage or _Usage()
        details = usage.prompt_tokens_details
        return ChatResponse(
            text=choice.message.content or "",
            usage=Usage(
                input_tokens=usage.prompt_tokens,
                output_tokens=usage.completion_tokens,
                cached_tokens=details.cached_tokens if details is not None else None,
            ),
            model=completion.model or self.model,
            finish_reason=choice.finish_reason,
            provider=self.name,
            tool_calls=[
                ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
                for call in choice.message.tool_calls or []
            ],
        )


def _wire_message(message: Message) -> dict[str, Any]:
    """A message as the chat completions API spells it (tool calls and tool results included)."""
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        wire["tool_call_id"] = message.tool_call_id
    return wire
