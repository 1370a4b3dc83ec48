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
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
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
    tool_calls: tuple[tuple[str, str, str], ...] = ()  # (id, function name, JSON arguments)

    @classmethod
    def ok(cls, text: str = "Hello from the fake server.", **usage: Any) -> FakeReply:
        return cls(text=text, **usage)

    @classmethod
    def calls(cls, *tool_calls: tuple[str, str, str]) -> FakeReply:
        """The model asks for tools instead of answering: `(id, name, arguments JSON)` each."""
        return cls(text="", tool_calls=tool_calls, finish_reason="tool_calls")

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

    def __init__(self, default_reply: FakeReply | None = None) -> None:
        self.default_reply = default_reply or FakeReply()
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
        if reply.delay_s:
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
        return JSONResponse(self._completion(reply, body), status_code=reply.status, headers=reply.headers)

    @staticmethod
    def _completion(reply: FakeReply, body: Any) -> dict[str, Any]:
        usage: dict[str, Any] = {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }
        if reply.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
        message: dict[str, Any] = {
            "role": "assistant",
            "content": (reply.text or None) if reply.tool_calls else reply.text,
        }
        if reply.tool_calls:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
                for call_id, name, arguments in reply.tool_calls
            ]
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-model") if isinstance(body, dict) else "fake-model",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": usage,
        }

    def __enter__(self) -> FakeOpenAIServer:
        app = Starlette(routes=[Route("/v1/chat/completions", self._chat_completions, methods=["POST"])])
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
