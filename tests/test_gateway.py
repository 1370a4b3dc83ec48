"""The OpenAI-compatible gateway, driven by the official `openai` SDK against a real llmops server
(SQLite and Postgres) in front of a fake upstream: replies, streams, tools, errors, traces and rows."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from sqlalchemy import select

from fakes import FakeOpenAIServer, FakeReply
from live import LiveServer
from llmops.storage.tables import requests, spans

UPSTREAM_KEY = "sk-upstream-Gw7Kq2Vx9Lm4Np8Rt3Zy6Bc1Df5Hj0"
Start = Callable[..., LiveServer]


@pytest.fixture
def upstream() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def start_gateway(live_server: Start, upstream: FakeOpenAIServer, **overrides: Any) -> LiveServer:
    values = {
        "openai_base_url": upstream.base_url,
        "openai_api_key": UPSTREAM_KEY,
        "openai_model": "gpt-4o-mini",
    }
    return live_server(**{**values, **overrides})


def sdk(server: LiveServer, key: str | None = None, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key or server.key, **options)


def rows(server: LiveServer, table: Any = requests) -> list[dict[str, Any]]:
    server.flush()
    with server.app.state.services.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(table))]


def test_chat_completion_is_proxied_traced_and_costed(live_server: Start, upstream: FakeOpenAIServer) -> None:
    server = start_gateway(live_server, upstream)
    client = sdk(
        server, default_headers={"X-LLMOps-Session": "sess-42", "X-LLMOps-Prompt-Version": "support_v3"}
    )
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}], user="alice"
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from the fake server."
    assert completion.usage is not None and completion.usage.prompt_tokens == 12
    request_id = raw.headers["x-request-id"]

    sent = upstream.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent.body["model"] == "gpt-4o-mini" and sent.body["user"] == "alice"

    with server.app.state.services.engine.connect() as connection:  # acknowledged = recorded: no flush
        stored = connection.execute(select(requests.c.request_id)).scalars().all()
    assert stored == [request_id]
    [row] = rows(server)
    assert row["request_id"] == request_id
    assert (row["source"], row["assistant"], row["session_id"]) == ("gateway", "gateway", "sess-42")
    assert row["prompt_version"] == "support_v3"
    assert (row["model"], row["provider"], row["status"], row["http_status"]) == (
        "gpt-4o-mini",
        "openai",
        "ok",
        200,
    )
    assert (row["input_tokens"], row["output_tokens"]) == (12, 7)
    assert row["cost_usd"] is not None and row["cost_usd"] > 0
    assert row["user_id"] is not None and row["user_id"].startswith("u_") and "alice" not in row["user_id"]

    by_name = {span["name"]: span for span in rows(server, spans)}
    model_span = json.loads(by_name["chat gpt-4o-mini"]["attributes"])
    assert by_name["chat gpt-4o-mini"]["kind"] == "CLIENT"
    assert json.loads(model_span["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello"}]}
    ]
    assert model_span["gen_ai.response.finish_reasons"] == ["stop"]
    root = json.loads(by_name["POST /v1/chat/completions"]["attributes"])
    assert root["llmops.root"] is True and root["gen_ai.agent.name"] == "gateway"

    feedback = server.client().post("/v1/feedback", json={"request_id": request_id, "rating": 1})
    assert feedback.status_code == 201, feedback.text


def test_streaming_with_and_without_usage(live_server: Start, upstream: FakeOpenAIServer) -> None:
    server = start_gateway(live_server, upstream)
    client = sdk(server)
    messages = [{"role": "user", "content": "Stream please"}]

    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True))
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "Hello from the fake server."
    )
    assert all(c.usage is None for c in chunks), "the client did not ask for usage: it gets none"
    assert upstream.requests[-1].body["stream_options"] == {"include_usage": True}

    with_usage = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert with_usage[-1].choices == [] and with_usage[-1].usage is not None
    assert with_usage[-1].usage.completion_tokens == 7

    found = rows(server)
    assert len(found) == 2
    assert all((r["input_tokens"], r["output_tokens"], r["status"]) == (12, 7, "ok") for r in found)
    outputs = [
        json.loads(json.loads(s["attributes"])["gen_ai.output.messages"])
        for s in rows(server, spans)
        if s["name"] == "chat gpt-4o-mini"
    ]
    assert outputs[0] == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello from the fake server."}],
            "finish_reason": "stop",
        }
    ]


def test_async_client_and_tools_pass_through(live_server: Start, upstream: FakeOpenAIServer) -> None:
    server = start_gateway(live_server, upstream)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    upstream.script(
        FakeReply.tool_call("get_weather", '{"city": "Oslo"}'),
        FakeReply.tool_call("get_weather", '{"city": "Oslo"}'),
    )

    async def run() -> tuple[Any, str]:
        client = openai.AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key=server.key)
        completion = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Weather?"}],
            tools=tools,
            tool_choice="auto",
        )
        arguments = ""
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}], tools=tools, stream=True
        )
        async for chunk in stream:
            for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                arguments += call.function.arguments or "" if call.function else ""
        await client.close()
        return completion, arguments

    completion, streamed_arguments = asyncio.run(run())
    call = completion.choices[0].message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "Oslo"}')
    assert completion.choices[0].finish_reason == "tool_calls"
    assert streamed_arguments == '{"city": "Oslo"}'
    assert upstream.requests[0].body["tools"] == tools and upstream.requests[0].body["tool_choice"] == "auto"
    outputs = [
        json.loads(json.loads(s["attributes"])["gen_ai.output.messages"])
        for s in rows(server, spans)
        if s["name"] == "chat gpt-4o-mini"
    ]
    assert all(
        o[0]["parts"][-1]["type"] == "tool_call" and o[0]["parts"][-1]["name"] == "get_weather"
        for o in outputs
    )


def test_errors_take_openai_shape_and_sdk_exceptions(live_server: Start, upstream: FakeOpenAIServer) -> None:
    config = {
        "upstreams": [{"name": "openai", "base_url": upstream.base_url}],
        "models": [{"alias": "gpt-4o-mini", "upstream": "openai"}],
    }
    server = start_gateway(
        live_server,
        upstream,
        gateway_upstreams=json.dumps(config),
        gateway_requests_per_minute=1,
        max_retries=2,
    )
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.AuthenticationError) as auth:
        sdk(server, key="llmops_wrong", max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=messages
        )
    assert auth.value.body["code"] == "invalid_api_key"  # type: ignore[index]

    client = sdk(server, max_retries=0)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="no-such-model", messages=messages)
    assert missing.value.body == {  # the SDK hands over the `error` object
        "message": "The model requested does not exist or you do not have access to it: GET /v1/models lists them.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert bad.value.body["param"] == "messages"  # type: ignore[index]

    upstream.script(FakeReply.server_error(500), FakeReply.ok("after a retry"))
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    assert raw.parse().choices[0].message.content == "after a retry"
    assert (
        raw.headers["x-ratelimit-limit-requests"] == "1"
        and raw.headers["x-ratelimit-remaining-requests"] == "0"
    )
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert int(limited.value.response.headers["retry-after"]) >= 1
    assert limited.value.response.headers["x-ratelimit-remaining-requests"] == "0"

    by_status = {r["http_status"]: r for r in rows(server)}
    assert by_status[200]["retries"] == 1


def test_upstream_failures_are_retried_then_mapped_without_leaking(
    live_server: Start, upstream: FakeOpenAIServer
) -> None:
    server = start_gateway(live_server, upstream, max_retries=2)
    client = sdk(server, max_retries=0)
    upstream.script(*[FakeReply.server_error(500)] * 3)
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert failed.value.status_code == 502 and failed.value.body["code"] == "upstream_error"  # type: ignore[index]
    assert len(upstream.requests) == 3

    upstream.script(FakeReply.echo_auth(401))  # the upstream echoes our key and the prompt back
    with pytest.raises(openai.InternalServerError) as refused:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "my secret prompt"}]
        )
    text = refused.value.response.text
    assert UPSTREAM_KEY not in text and "secret prompt" not in text
    assert refused.value.body["code"] == "upstream_auth_failed"  # type: ignore[index]

    upstream.script(
        FakeReply.rate_limited(retry_after="7"),
        FakeReply.rate_limited(retry_after="7"),
        FakeReply.rate_limited(retry_after="7"),
    )
    fast = start_gateway(live_server, upstream, max_retries=0)
    with pytest.raises(openai.RateLimitError) as limited:
        sdk(fast, max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert limited.value.response.headers["retry-after"] == "7"

    errors = [r for r in rows(server) if r["status"] == "error"]  # both servers' (one database)
    assert {(r["http_status"], r["error_type"]) for r in errors} == {
        (502, "server_error"),
        (502, "bad_response"),
        (429, "rate_limited"),
    }
    assert max(r["retries"] for r in errors) == 2


def test_fallback_to_another_upstream(live_server: Start, upstream: FakeOpenAIServer) -> None:
    with FakeOpenAIServer(default_reply=FakeReply.ok("from the fallback")) as backup:
        config = {
            "upstreams": [
                {"name": "primary", "base_url": upstream.base_url, "api_key_env": "GW_TEST_PRIMARY_KEY"},
                {"name": "selfhosted", "base_url": backup.base_url},
            ],
            "models": [
                {"alias": "smart", "upstream": "primary", "model": "gpt-4o-mini", "fallbacks": ["cheap"]},
                {
                    "alias": "cheap",
                    "upstream": "selfhosted",
                    "model": "llama-3.1-8b",
                    "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0},
                },
            ],
        }
        mp = pytest.MonkeyPatch()
        mp.setenv("GW_TEST_PRIMARY_KEY", UPSTREAM_KEY)
        try:
            server = live_server(gateway_upstreams=json.dumps(config), max_retries=1)
        finally:
            mp.undo()
        upstream.script(*[FakeReply.server_error(503)] * 2)
        completion = sdk(server, max_retries=0).chat.completions.create(
            model="smart", messages=[{"role": "user", "content": "hi"}]
        )
        assert completion.choices[0].message.content == "from the fallback"
        assert backup.requests[-1].body["model"] == "llama-3.1-8b"
        assert upstream.requests[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
        assert "authorization" not in backup.requests[-1].headers
        assert [m.id for m in sdk(server).models.list()] == ["smart", "cheap"]
    [row] = rows(server)
    assert (row["provider"], row["model"], row["retries"]) == ("selfhosted", "llama-3.1-8b", 1)
    assert row["cost_usd"] == pytest.approx((12 * 1.0 + 7 * 2.0) / 1e6) and row["price_source"] == "config"


def test_embeddings_and_models(live_server: Start, upstream: FakeOpenAIServer) -> None:
    server = start_gateway(live_server, upstream)
    client = sdk(server)
    result = client.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
    assert len(result.data) == 2 and result.usage.prompt_tokens == 12
    assert [m.id for m in client.models.list()] == ["gpt-4o-mini"]
    assert client.models.retrieve("gpt-4o-mini").owned_by == "openai"
    [row] = rows(server)
    assert (row["model"], row["input_tokens"], row["source"]) == ("text-embedding-3-small", 12, "gateway")


def test_budget_and_cache(live_server: Start, upstream: FakeOpenAIServer) -> None:
    server = start_gateway(live_server, upstream, gateway_cache_ttl_s=60, budgets="api_key:hour:tokens=3000")
    client = sdk(server, max_retries=0)
    messages = [{"role": "user", "content": "cache me"}]
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    second = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    assert (first.headers["x-llmops-cache"], second.headers["x-llmops-cache"]) == ("miss", "hit")
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert len(upstream.requests) == 1
    cache = server.app.state.services.gateway.cache
    assert all(
        b"cache me" not in sealed and b"fake server" not in sealed for sealed in cache._entries.values()
    )
    with pytest.raises(openai.RateLimitError) as over:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x" * 9000}]
        )
    assert over.value.body["code"] == "budget_exceeded" and over.value.response.headers["retry-after"]  # type: ignore[index]


def test_model_canary_is_sticky_per_user(live_server: Start, upstream: FakeOpenAIServer) -> None:
    config = {
        "upstreams": [{"name": "openai", "base_url": upstream.base_url}],
        "models": [
            {
                "alias": "chat",
                "upstream": "openai",
                "model": "model-a",
                "canary": {"alias": "chat-next", "share": 0.5},
            },
            {"alias": "chat-next", "upstream": "openai", "model": "model-b"},
        ],
    }
    server = start_gateway(live_server, upstream, gateway_upstreams=json.dumps(config))
    client = sdk(server)
    arms: dict[str, set[str]] = {}
    for user in [f"user-{i}" for i in range(12)] * 2:
        completion = client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}], user=user
        )
        arms.setdefault(user, set()).add(completion.model)
    assert all(len(models) == 1 for models in arms.values()), "each user stays in one arm"
    assert {next(iter(m)) for m in arms.values()} == {"model-a", "model-b"}
    canary_rows = [r for r in rows(server) if r["model"] == "model-b"]
    assert canary_rows and all(r["source"] == "gateway" for r in canary_rows)


def test_upstream_key_and_planted_pii_reach_no_sink(
    live_server: Start, upstream: FakeOpenAIServer, capfd: pytest.CaptureFixture[str]
) -> None:
    email, card = "jane.roe@contoso-mail.example", "4111 1111 1111 1111"
    echo = f"Noted: {email}, card {card}."
    server = start_gateway(live_server, upstream, capture_content="redacted", max_retries=0)
    client = sdk(server, max_retries=0)
    content = f"Please bill {card} and mail {email}"
    messages = [{"role": "user", "content": content}]
    upstream.script(FakeReply.ok(echo), FakeReply.ok(echo), FakeReply.echo_auth(500))
    client.chat.completions.create(model="gpt-4o-mini", messages=messages, user=email)
    list(client.chat.completions.create(model="gpt-4o-mini", messages=messages, user=email, stream=True))
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages, user=email)
    assert UPSTREAM_KEY not in failed.value.response.text
    metrics = server.client().get("/metrics").text
    stored = json.dumps([rows(server), rows(server, spans)], default=str)
    logs = capfd.readouterr().err

    assert "[EMAIL]" in stored and "[CREDIT_CARD]" in stored, "content was captured, then redacted"
    for where, text in {"database": stored, "log": logs, "/metrics": metrics}.items():
        for planted in (UPSTREAM_KEY, email, card, card.replace(" ", "")):
            assert planted not in text, f"{planted!r} reached the {where}"


def test_a_stream_cut_upstream_ends_in_an_error_event(live_server: Start, upstream: FakeOpenAIServer) -> None:
    server = start_gateway(live_server, upstream)
    upstream.script(FakeReply(text="one two three four five six", break_stream_after=3))
    received = []
    with pytest.raises(openai.APIError, match="interrupted the stream"):
        for chunk in sdk(server, max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            received.append(chunk)
    assert len(received) == 3
    deadline = time.monotonic() + 10  # the server records the stream after the client stopped reading
    while not (found := rows(server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    [row] = found
    assert (row["status"], row["error_type"]) == ("error", "stream_interrupted")


def test_open_breaker_answers_503_and_capture_off_keeps_no_content(
    live_server: Start, upstream: FakeOpenAIServer
) -> None:
    server = start_gateway(
        live_server,
        upstream,
        max_retries=0,
        breaker_failure_threshold=1,
        breaker_reset_s=30,
        capture_content="none",
    )
    client = sdk(server, max_retries=0, default_headers={"X-LLMOps-User": "header-user"})
    messages = [{"role": "user", "content": "private words"}]
    client.chat.completions.create(model="gpt-4o-mini", messages=messages, user="body-user")
    upstream.script(FakeReply.server_error(500))
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert failed.value.status_code == 502
    with pytest.raises(openai.InternalServerError) as paused:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert paused.value.status_code == 503 and paused.value.response.headers["retry-after"] == "30"
    assert len(upstream.requests) == 2, "an open breaker does not call the upstream"

    stored = json.dumps([rows(server), rows(server, spans)], default=str)
    assert "private words" not in stored and "gen_ai.input.messages" not in stored
    users = {r["user_id"] for r in rows(server)}
    assert users == {server.app.state.services.telemetry.pseudonymise("header-user")}, "the header wins"

    anonymous = server.client(authenticated=False).get("/v1/models")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "invalid_api_key"


def test_a_client_leaving_mid_stream_is_recorded(live_server: Start, upstream: FakeOpenAIServer) -> None:
    server = start_gateway(live_server, upstream)
    upstream.script(FakeReply(text="one two three four five six seven eight", delay_s=0.2))
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with server.client() as client, client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        next(response.iter_raw())  # the first events, then the client hangs up
    deadline = time.monotonic() + 10
    while not (found := rows(server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    [row] = found
    assert (row["status"], row["error_type"]) == ("error", "client_disconnected")


def test_a_taken_request_id_is_replaced_and_the_header_names_the_stored_one(
    live_server: Start, upstream: FakeOpenAIServer
) -> None:
    server = start_gateway(live_server, upstream)
    client = sdk(server, default_headers={"X-Request-ID": "client-id-1"})
    messages = [{"role": "user", "content": "Say hello"}]
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    again = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    embedded = client.embeddings.with_raw_response.create(model="gpt-4o-mini", input="hello")
    masked = "192.168.10.23"  # a well-formed id the redactor would mask is replaced before the reply
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=messages, stream=True, extra_headers={"X-Request-ID": masked}
    ) as streamed:
        streamed.read()
    ids = [reply.headers["x-request-id"] for reply in (first, again, embedded, streamed)]
    assert ids[0] == "client-id-1" and "client-id-1" not in ids[1:] and len(set(ids)) == 4
    assert masked not in ids
    with server.app.state.services.engine.connect() as connection:  # no flush: stored before the reply
        stored = set(connection.execute(select(requests.c.request_id)).scalars())
    assert stored == set(ids)
