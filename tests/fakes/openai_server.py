"""A real OpenAI-compatible HTTP server for tests, run by uvicorn in a background thread.

Tests script its replies (normal, 429 with Retry-After, 5xx, slow, malformed, or an error body that
echoes the Authorization header and the request, like a careless server would) and read back the
requests it received. Unscripted calls get `default_reply`.

    with FakeOpenAIServer() as server:
        server.script(FakeReply.rate_limited(retry_after="1"), FakeReply.ok("hi"))
        provider = OpenAIProvider(base_url=server.base_url, api_key="sk-test", model="m")
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass(frozen=True)
class FakeReply:
    """What the server answers to one request."""

    status: int = 200
    text: str = "Hello from the fake server."
    prompt_tokens: int = 12
    completion_tokens: int = 7
    cached_tokens: int | None = None
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    raw_body: str | None = None
    echo_request: bool = False
    model: str | None = None  # the model the upstream answers as (default: the one requested)
    tool_calls: list[dict[str, Any]] | None = None
    break_stream_after: int | None = None  # streaming: drop the connection after this many chunks

    @classmethod
    def ok(cls, text: str = "Hello from the fake server.", **usage: Any) -> FakeReply:
        return cls(text=text, **usage)

    @classmethod
    def calls(cls, *tool_calls: tuple[str, str, str]) -> FakeReply:
        """The model asks for tools instead of answering: `(id, name, arguments JSON)` each."""
        calls = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, name, arguments in tool_calls
        ]
        return cls(text="", tool_calls=calls, finish_reason="tool_calls")

    @classmethod
    def rate_limited(cls, retry_after: str | None = None, retry_after_ms: str | None = None) -> FakeReply:
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        if retry_after_ms is not None:
            headers["retry-after-ms"] = retry_after_ms
        return cls(status=429, headers=headers, raw_body='{"error": {"message": "Rate limit reached"}}')

    @classmethod
    def server_error(cls, status: int = 500) -> FakeReply:
        return cls(status=status, raw_body='{"error": {"message": "The server had an error"}}')

    @classmethod
    def slow(cls, delay_s: float, text: str = "Hello from the fake server.") -> FakeReply:
        return cls(text=text, delay_s=delay_s)

    @classmethod
    def malformed(cls) -> FakeReply:
        return cls(raw_body='{"choices": [{"message": ')

    @classmethod
    def tool_call(cls, name: str, arguments: str, call_id: str = "call_fake_1") -> FakeReply:
        """A reply that calls one tool (`finish_reason` `tool_calls`, no text)."""
        calls = [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]
        return cls(text="", tool_calls=calls, finish_reason="tool_calls")

    @classmethod
    def echo_auth(cls, status: int = 401) -> FakeReply:
        """An error whose body repeats the Authorization header and the request body back."""
        return cls(status=status, echo_request=True)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeOpenAIServer:
    """Context manager: starts on a free port of 127.0.0.1 and stops on exit. Thread-safe scripting."""

    def __init__(
        self, default_reply: FakeReply | None = None, models: tuple[str, ...] = ("fake-model",)
    ) -> None:
        self.default_reply = default_reply or FakeReply()
        self.models = models  # what GET /v1/models lists
        self._lock = threading.Lock()
        self._script: deque[FakeReply] = deque()
        self._requests: list[RecordedRequest] = []
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def script(self, *replies: FakeReply) -> None:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._requests.clear()

    def _next_reply(self, recorded: RecordedRequest) -> FakeReply:
        with self._lock:
            self._requests.append(recorded)
            return self._script.popleft() if self._script else self.default_reply

    async def _chat_completions(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        recorded = RecordedRequest(request.method, request.url.path, dict(request.headers), body)
        reply = self._next_reply(recorded)
        if reply.delay_s and not (isinstance(body, dict) and body.get("stream") is True):
            await asyncio.sleep(reply.delay_s)
        if reply.echo_request:
            content = {
                "error": {
                    "message": f"Invalid credentials: {request.headers.get('authorization', '')}",
                    "request": body,
                }
            }
            return JSONResponse(content, status_code=reply.status, headers=reply.headers)
        if reply.raw_body is not None:
            return Response(
                reply.raw_body, status_code=reply.status, headers=reply.headers, media_type="application/json"
            )
        if isinstance(body, dict) and body.get("stream") is True:
            return StreamingResponse(
                self._chunks(reply, body), headers=reply.headers, media_type="text/event-stream"
            )
        return JSONResponse(self._completion(reply, body), status_code=reply.status, headers=reply.headers)

    async def _embeddings(self, request: Request) -> Response:
        body = json.loads(await request.body())
        recorded = RecordedRequest(request.method, request.url.path, dict(request.headers), body)
        reply = self._next_reply(recorded)
        if reply.raw_body is not None:
            return Response(reply.raw_body, status_code=reply.status, headers=reply.headers)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": [0.1 * (i + 1), 0.2, 0.3]}
            for i in range(len(inputs))
        ]
        usage = {"prompt_tokens": reply.prompt_tokens, "total_tokens": reply.prompt_tokens}
        return JSONResponse({"object": "list", "data": data, "model": body["model"], "usage": usage})

    async def _chunks(self, reply: FakeReply, body: dict[str, Any]) -> AsyncIterator[bytes]:
        """The reply as OpenAI streams it: a role chunk, a chunk per word or tool call, a finish chunk,
        then (when `stream_options.include_usage`) a usage chunk with empty choices, then [DONE]."""
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "fake-model"),
        }
        extra = {"usage": None} if include_usage else {}
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": word} for word in re.findall(r"\S+\s*", reply.text)]
        for index, call in enumerate(reply.tool_calls or []):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            deltas.append(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": arguments[:half]},
                        }
                    ]
                }
            )
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]})
        chunks = [
            {**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}], **extra} for d in deltas
        ]
        chunks.append(
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}], **extra}
        )
        if include_usage:
            usage = {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            }
            chunks.append({**base, "choices": [], "usage": usage})
        for sent, chunk in enumerate(chunks):
            if reply.break_stream_after is not None and sent >= reply.break_stream_after:
                raise RuntimeError("the fake server drops the stream")
            yield f"data: {json.dumps(chunk)}\n\n".encode()
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
        yield b"data: [DONE]\n\n"

    async def _models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": m, "object": "model"} for m in self.models]})

    @staticmethod
    def _completion(reply: FakeReply, body: Any) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }
        if reply.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model
            or (body.get("model", "fake-model") if isinstance(body, dict) else "fake-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply.text or None,
                        **({"tool_calls": reply.tool_calls} if reply.tool_calls else {}),
                    },
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": usage,
        }

    def __enter__(self) -> FakeOpenAIServer:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._socket, self._server, self._thread = sock, server, thread
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self._stop()
                raise RuntimeError("the fake OpenAI server did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
