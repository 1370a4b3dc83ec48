"""The gateway's parts on their own: configuration, rate limits, the SSE relay, the cache, key masking."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute

from llmops.api.middleware import DirectRoutes
from llmops.config import Settings
from llmops.gateway.cache import ResponseCache, identity
from llmops.gateway.errors import GatewayError
from llmops.gateway.messages import StreamAccumulator
from llmops.gateway.ratelimit import RateLimiter
from llmops.gateway.streaming import relay, sse_events
from llmops.gateway.upstreams import GatewayConfigError, build_routes, parse_config
from llmops.service import build_redactor
from llmops.storage import jsoncodec


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_rate_limits_refuse_with_retry_after_and_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 1000, clock=clock)
    first = limiter.admit("k", 100)
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-remaining-tokens"] == "900"
    assert first.headers["x-ratelimit-reset-requests"] == "30s"
    limiter.admit("k", 100)
    with pytest.raises(GatewayError) as refused:
        limiter.admit("k", 100)
    assert refused.value.status == 429 and refused.value.type == "requests"
    assert refused.value.headers["Retry-After"] == "30"
    limiter.admit("other-key", 100)  # each key has its own buckets
    clock.now = 30.0
    limiter.admit("k", 100)
    limiter.settle(limiter.admit("k2", 500), 900)
    with pytest.raises(GatewayError) as tokens:
        limiter.admit("k2", 200)
    assert tokens.value.type == "tokens" and int(tokens.value.headers["Retry-After"]) >= 1


def test_no_limits_cost_nothing() -> None:
    limiter = RateLimiter(0, 0)
    assert all(limiter.admit("k", 10**9).headers == {} for _ in range(1000))


def test_configuration_errors_name_what_is_wrong(tmp_path: Path) -> None:
    upstream = {"name": "a", "base_url": "http://127.0.0.1:1/v1"}
    cases = {
        json.dumps(
            {"upstreams": [upstream], "models": [{"alias": "m", "upstream": "b"}]}
        ): "unknown upstream 'b'",
        json.dumps(
            {"upstreams": [upstream], "models": [{"alias": "m", "upstream": "a", "fallbacks": ["x"]}]}
        ): "refers to 'x'",
        json.dumps({"upstreams": [upstream], "passthrough": "z"}): "passthrough names an unknown upstream",
        json.dumps({"upstreams": []}): "upstreams",
        "{not json": "not valid JSON or YAML",
        str(tmp_path / "missing.yaml"): "cannot be read",
    }
    for raw, message in cases.items():
        with pytest.raises(GatewayConfigError, match=message):
            parse_config(raw)
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "upstreams:\n  - name: a\n    base_url: http://127.0.0.1:1/v1\nmodels:\n  - alias: m\n    upstream: a\n"
    )
    assert parse_config(str(path)).models[0].alias == "m"


def test_upstream_keys_come_from_the_secrets_directory_and_are_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-selfhosted-Zq8Wv3Lx0Ty6Nb2Mc9"
    (tmp_path / "vllm_key").write_text(secret + "\n")
    monkeypatch.setenv("LLMOPS_SECRETS_DIR", str(tmp_path))
    config = {
        "upstreams": [{"name": "vllm", "base_url": "http://127.0.0.1:1/v1", "api_key_secret": "vllm_key"}]
    }
    configured = settings(gateway_upstreams=json.dumps(config), data_dir=tmp_path)
    routes = build_routes(configured)
    assert routes.upstreams["vllm"].api_key is not None
    assert routes.upstreams["vllm"].api_key.get_secret_value() == secret
    assert secret not in build_redactor(configured).redact(f"upstream said: key={secret}")
    config["upstreams"][0]["api_key_secret"] = "absent"
    with pytest.raises(GatewayConfigError, match="not in the secrets directory"):
        build_routes(settings(gateway_upstreams=json.dumps(config), data_dir=tmp_path))


async def _pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _chunk(content: str | None = None, *, usage: dict | None = None, finish: str | None = None) -> bytes:
    choices = (
        []
        if content is None and finish is None
        else [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}]
    )
    body: dict = {"model": "m", "choices": choices}
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def test_relay_reads_usage_and_strips_it_when_not_asked() -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2}
    stream = _chunk("Hel") + _chunk("lo", finish="stop") + _chunk(usage=usage) + b"data: [DONE]\n\n"
    split = [stream[:7], stream[7:50].replace(b"\n\n", b"\r\n\r\n"), stream[50:]]  # events across reads

    async def run(strip: bool) -> tuple[bytes, StreamAccumulator]:
        accumulator = StreamAccumulator(capture=True)
        out = b"".join([chunk async for chunk in relay(_pieces(*split), accumulator, strip)])
        return out, accumulator

    stripped, accumulator = asyncio.run(run(True))
    assert b'"usage"' not in stripped and stripped.endswith(b"data: [DONE]\n\n")
    assert accumulator.usage is not None and (
        accumulator.usage.input_tokens,
        accumulator.usage.output_tokens,
    ) == (3, 2)
    assert accumulator.output_messages() == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"}
    ]
    kept, _ = asyncio.run(run(False))
    assert kept.count(b'"usage"') == 1

    riding = _chunk("x", usage=usage, finish="stop")  # some servers put usage on the last content chunk
    out = asyncio.run(_collect(relay(_pieces(riding), StreamAccumulator(capture=False), True)))
    assert b'"usage"' not in out and b'"x"' in out


async def _collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


def test_json_bytes_accept_and_write_what_the_standard_library_does() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "héllo \u2603"}], "temperature": 0.1}
    assert jsoncodec.dumps(body) == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    assert jsoncodec.loads(jsoncodec.dumps(body)) == body
    refused_by_orjson = b'{"seed": 123456789012345678901234567890, "top_p": NaN}'
    parsed = jsoncodec.loads(refused_by_orjson)
    assert parsed["seed"] == 123456789012345678901234567890
    assert jsoncodec.dumps(parsed) == b'{"seed":123456789012345678901234567890,"top_p":NaN}'
    with pytest.raises(ValueError):
        jsoncodec.loads(b"{not json")


def test_sse_events_keep_unterminated_tail() -> None:
    async def run() -> list[list[bytes]]:
        return [
            events async for events in sse_events(_pieces(b"data: 1\n\ndata: 2", b"\n\n: comment\n\ndata: 3"))
        ]

    assert asyncio.run(run()) == [[b"data: 1"], [b"data: 2", b": comment"], [b"data: 3"]]


def test_cache_is_sealed_and_keyed_by_the_request() -> None:
    cache = ResponseCache(ttl_s=60, max_entries=10)
    body = {"model": "m", "messages": [{"role": "user", "content": "secret question"}], "user": "alice"}
    cache.put(identity("key1", "m", body), b'{"answer": "secret answer"}')
    assert cache.get(identity("key1", "m", {**body, "user": "bob"})) == b'{"answer": "secret answer"}'
    assert cache.get(identity("key2", "m", body)) is None
    assert cache.get(identity("key1", "m", {**body, "temperature": 1})) is None
    stored = b"".join(list(cache._entries.keys()) + list(cache._entries.values()))
    assert b"secret" not in stored


def test_direct_routes_call_the_endpoint_and_leave_the_rest_to_the_router() -> None:
    router = APIRouter()
    seen: list[object] = []

    @router.post("/v1/echo")
    async def echo(request: Request) -> Response:
        seen.append(request.scope["route"].path)
        return Response(await request.body(), media_type="application/json")

    @router.post("/v1/typed")
    async def typed(request: Request, n: int) -> Response:  # a query parameter: FastAPI must solve it
        return Response(str(n))

    def check_key(request: Request) -> None:
        raise AssertionError("never called here")

    @router.post("/v1/guarded", dependencies=[Depends(check_key)])
    async def guarded(request: Request) -> Response:  # served directly, its key check would be skipped
        return Response(b"{}")

    routes = [route for route in router.routes if isinstance(route, APIRoute)]
    with pytest.raises(ValueError, match="/v1/typed"):
        DirectRoutes(FastAPI(), routes[:2])
    with pytest.raises(ValueError, match="/v1/guarded"):
        DirectRoutes(FastAPI(), [routes[0], routes[2]])

    app = FastAPI()
    app.include_router(router)
    app.add_middleware(DirectRoutes, routes=routes[:1])

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            served = await client.post("/v1/echo", content=b'{"a": 1}')
            assert (served.status_code, served.content, seen) == (200, b'{"a": 1}', ["/v1/echo"])
            assert (await client.get("/v1/echo")).status_code == 405  # the router still answers
            assert (await client.post("/v1/typed", params={"n": 3})).text == "3"

    asyncio.run(run())
